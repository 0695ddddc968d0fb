//! Seed 000's local reconstruction: train local variables with their own
//! optimizer while globals stay frozen, then train globals with locals frozen
//! (training), or compute metrics with the reconstructed locals (evaluation).

use super::{evaluate_pass, optimizer_for, train_pass, GroupOptimizer, TrainOptions};
use crate::backend::Backend;
use crate::data::{Dataset, ReconstructionSplit, SplitDataset};
use crate::error::Result;
use crate::metrics::{MetricAccumulator, UnfinalizedMetrics};
use crate::model::{Model, VariableGroup};
use crate::optim::OptimizerConfig;
pub use fedwasm_protocol::work::ReconstructionConfig;

/// Trains the local variables on `data` (globals frozen). Nothing is read
/// back: the phase's metrics are not reported (TFF reports the second's).
fn reconstruct(
    b: &dyn Backend,
    model: &mut dyn Model,
    config: &OptimizerConfig,
    data: &Dataset,
    seed: u64,
) -> Result<()> {
    let groups = [VariableGroup::LocalTrainable];
    let mut opt = optimizer_for(b, model, &groups, config.clone())?;
    let opts = TrainOptions {
        seed,
        ..TrainOptions::default()
    };
    let mut parts = [GroupOptimizer {
        groups: &groups,
        optimizer: &mut opt,
    }];
    train_pass(b, model, &mut parts, data, None, opts)?;
    Ok(())
}

/// Reconstruction training on one client: local variables on the
/// reconstruction half, then global variables on the other half. Returns the
/// metrics of the second phase (as TFF's FedRecon reports).
///
/// # Errors
/// As [`super::train_local`].
pub async fn reconstruct_and_train(
    b: &dyn Backend,
    model: &mut dyn Model,
    config: &ReconstructionConfig,
    data: &Dataset,
    seed: u64,
) -> Result<UnfinalizedMetrics> {
    reconstruct_and_train_pass(b, model, config, data, seed)?
        .report(b)
        .await
}

/// [`reconstruct_and_train`] without the read-back (see [`train_pass`]).
pub(crate) fn reconstruct_and_train_pass(
    b: &dyn Backend,
    model: &mut dyn Model,
    config: &ReconstructionConfig,
    data: &Dataset,
    seed: u64,
) -> Result<MetricAccumulator> {
    let (recon, post) = config.split.split(data)?;
    reconstruct(b, model, &config.reconstruction_optimizer, &recon, seed)?;
    let groups = [VariableGroup::GlobalTrainable];
    let mut opt = optimizer_for(b, model, &groups, config.client_optimizer.clone())?;
    let opts = TrainOptions {
        seed,
        first_step: 1 << 20,
        progress: None,
    };
    let mut parts = [GroupOptimizer {
        groups: &groups,
        optimizer: &mut opt,
    }];
    train_pass(b, model, &mut parts, &post, None, opts)
}

/// Reconstruction evaluation (FedReconEval): reconstruct the local variables
/// on the first half, then evaluate on the second with globals fixed.
///
/// # Errors
/// As [`super::train_local`].
pub async fn reconstruct_and_evaluate(
    b: &dyn Backend,
    model: &mut dyn Model,
    reconstruction_optimizer: &OptimizerConfig,
    split: &ReconstructionSplit,
    data: &Dataset,
    seed: u64,
) -> Result<UnfinalizedMetrics> {
    reconstruct_and_evaluate_pass(b, model, reconstruction_optimizer, split, data, seed)?
        .report(b)
        .await
}

/// [`reconstruct_and_evaluate`] without the read-back (see [`train_pass`]).
pub(crate) fn reconstruct_and_evaluate_pass(
    b: &dyn Backend,
    model: &mut dyn Model,
    reconstruction_optimizer: &OptimizerConfig,
    split: &ReconstructionSplit,
    data: &Dataset,
    seed: u64,
) -> Result<MetricAccumulator> {
    let (recon, post) = split.split(data)?;
    reconstruct(b, model, reconstruction_optimizer, &recon, seed)?;
    evaluate_pass(b, model, &post)
}
