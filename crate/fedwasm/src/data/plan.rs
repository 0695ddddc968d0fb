//! Applying a [`DatasetPlan`] (protocol data: what a task asks a client to
//! do with its examples) to a [`Dataset`].

use super::dataset::Dataset;
use crate::error::Result;
pub use fedwasm_protocol::plan::{DatasetOp, DatasetPlan};

/// `ds` with every step of `plan` applied in order (an empty plan gives
/// `ds` itself).
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for an invalid plan
/// ([`DatasetPlan::validate`]).
pub fn apply_plan(plan: &DatasetPlan, ds: &Dataset) -> Result<Dataset> {
    plan.validate()?;
    let mut ds = ds.clone();
    for op in &plan.ops {
        ds = match *op {
            DatasetOp::Repeat { count } => ds.repeat(count),
            DatasetOp::Shuffle { buffer, seed } => ds.shuffle(buffer, seed),
            DatasetOp::Batch {
                size,
                drop_remainder,
            } => ds.batch(size, drop_remainder),
            DatasetOp::Take { count } => ds.take(count),
            DatasetOp::Skip { count } => ds.skip(count),
        };
    }
    Ok(ds)
}
