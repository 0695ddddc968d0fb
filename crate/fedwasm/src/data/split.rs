//! Splitting a client's dataset for reconstruction (seed 000's
//! `build_dataset_split_fn` and `simple_dataset_split_fn`).
//!
//! The input is expected to be batched; "entries" are batches, so
//! `split_dataset` puts even-indexed batches into reconstruction and
//! odd-indexed batches into post-reconstruction.

use super::dataset::Dataset;
use crate::error::{Error, Result};

pub use fedwasm_protocol::work::ReconstructionSplit;

/// Splitting a client's dataset by a [`ReconstructionSplit`] (the split's
/// configuration is protocol data; the datasets are the engine's).
pub trait SplitDataset {
    /// `(reconstruction, post_reconstruction)` datasets of `ds`.
    ///
    /// # Errors
    /// [`Error::Dataset`] if an epoch count is 0.
    fn split(&self, ds: &Dataset) -> Result<(Dataset, Dataset)>;
}

impl SplitDataset for ReconstructionSplit {
    /// `(reconstruction, post_reconstruction)` datasets:
    /// `(split ? ds.shard(2, 0) : ds).repeat(recon_epochs).take(recon_steps_max)`
    /// and `(split ? ds.shard(2, 1) : ds).repeat(post_recon_epochs).take(post_recon_steps_max)`.
    ///
    /// With `split_dataset` and a `shuffle` upstream, each half still sees one
    /// consistent order within a pass (see [`crate::data::dataset`]), but later
    /// passes of `repeat` reshuffle, so the halves may overlap across epochs,
    /// as in TFF.
    ///
    /// # Errors
    /// [`Error::Dataset`] if an epoch count is 0.
    fn split(&self, ds: &Dataset) -> Result<(Dataset, Dataset)> {
        for (name, v) in [
            ("recon_epochs", self.recon_epochs),
            ("post_recon_epochs", self.post_recon_epochs),
        ] {
            if v < 1 {
                return Err(Error::Dataset {
                    op: "ReconstructionSplit",
                    detail: format!("{name} must be at least 1, got {v}"),
                });
            }
        }
        let (recon, post) = if self.split_dataset {
            (ds.shard(2, 0), ds.shard(2, 1))
        } else {
            (ds.clone(), ds.clone())
        };
        let mut recon = recon.repeat(self.recon_epochs);
        if let Some(n) = self.recon_steps_max {
            recon = recon.take(n);
        }
        let mut post = post.repeat(self.post_recon_epochs);
        if let Some(n) = self.post_recon_steps_max {
            post = post.take(n);
        }
        Ok((recon, post))
    }
}

/// `simple_dataset_split_fn`: the same data for both stages.
pub fn simple_dataset_split_fn(ds: &Dataset) -> (Dataset, Dataset) {
    (ds.clone(), ds.clone())
}
