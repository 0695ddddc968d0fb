//! Choosing each round's clients.
//!
//! Sampling is uniform without replacement, seeded: round `r` draws from
//! [`Rng::derive`]`(seed, r)` with a partial Fisher-Yates shuffle, so the
//! sample depends only on `(num_clients, clients_per_round, seed, round)`
//! and is the same on every target.

use crate::error::{Error, Result};
use crate::rng::Rng;

/// `clients_per_round` distinct client positions out of `0..num_clients`,
/// in the order drawn.
///
/// # Errors
/// [`Error::InvalidArgument`] when more clients are asked for than exist.
pub fn sample_clients(
    num_clients: usize,
    clients_per_round: usize,
    seed: u64,
    round: u64,
) -> Result<Vec<usize>> {
    if clients_per_round > num_clients {
        return Err(Error::invalid(
            "sample_clients",
            format!("cannot draw {clients_per_round} distinct clients out of {num_clients}"),
        ));
    }
    let mut rng = Rng::derive(seed, round);
    let mut order: Vec<usize> = (0..num_clients).collect();
    for i in 0..clients_per_round {
        let j = i + rng.below((num_clients - i) as u64) as usize;
        order.swap(i, j);
    }
    order.truncate(clients_per_round);
    Ok(order)
}
