//! Choosing each round's clients ([`sample_clients`], from the protocol
//! crate) by id, and turning them into datasets.

use crate::data::{ClientData, Dataset};
use crate::error::Result;
pub use fedwasm_protocol::sampling::sample_clients;

/// [`sample_clients`] over the ids of `data` (sorted order).
///
/// # Errors
/// As [`sample_clients`].
pub fn sample_client_ids(
    data: &ClientData,
    clients_per_round: usize,
    seed: u64,
    round: u64,
) -> Result<Vec<String>> {
    let ids = data.client_ids();
    Ok(sample_clients(ids.len(), clients_per_round, seed, round)?
        .into_iter()
        .map(|i| ids[i].clone())
        .collect())
}

/// One dataset per id, each passed through `preprocess` (for example
/// `|ds| ds.shuffle(100, round).batch(20, false)`): the `clients` argument of
/// [`super::LearningProcess::next`].
///
/// # Errors
/// [`crate::Error::Dataset`] naming an unknown id.
pub fn client_datasets(
    data: &ClientData,
    ids: &[String],
    preprocess: impl Fn(Dataset) -> Dataset,
) -> Result<Vec<Dataset>> {
    ids.iter()
        .map(|id| Ok(preprocess(data.dataset_for_client(id)?)))
        .collect()
}
