//! Seed 000's local reconstruction: train local variables with their own
//! optimizer while globals stay frozen, then train globals with locals frozen
//! (training), or compute metrics with the reconstructed locals (evaluation).

use super::{
    evaluate_pass, optimizer_for, train_pass, GroupOptimizer, LossWatch, Pacer, PassOutput,
    PassSettings, Phase, TrainOptions,
};
use crate::backend::Backend;
use crate::data::{Dataset, ReconstructionSplit, SplitDataset};
use crate::error::Result;
use crate::metrics::UnfinalizedMetrics;
use crate::model::{Model, VariableGroup};
use crate::optim::OptimizerConfig;
pub use fedwasm_protocol::work::ReconstructionConfig;

/// Trains the local variables on `data` (globals frozen). Nothing is read
/// back: the phase's metrics are not reported (TFF reports the second's);
/// under [`super::Divergence::Fail`] its watched losses are returned.
async fn reconstruct(
    b: &dyn Backend,
    model: &mut dyn Model,
    config: &OptimizerConfig,
    data: &Dataset,
    settings: PassSettings,
    pacer: &mut Pacer<'_>,
) -> Result<Vec<LossWatch>> {
    let groups = [VariableGroup::LocalTrainable];
    let mut opt = optimizer_for(b, model, &groups, config.clone())?;
    let mut parts = [GroupOptimizer {
        groups: &groups,
        optimizer: &mut opt,
    }];
    let settings = PassSettings {
        phase: Phase::Reconstruct,
        ..settings
    };
    let pass = train_pass(b, model, &mut parts, data, None, settings, pacer).await?;
    Ok(pass.into_watches())
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
    let opts = TrainOptions {
        seed,
        ..TrainOptions::default()
    };
    reconstruct_and_train_with(b, model, config, data, opts).await
}

/// [`reconstruct_and_train`] with the options of [`super::train_local`]:
/// `opts.seed` seeds both phases; the second starts at step
/// `opts.first_step + 2^20`. [`crate::Error::Diverged`] names the batch in the
/// order trained (the reconstruction phase's batches first); progress counts
/// both phases.
///
/// # Errors
/// As [`super::train_local`].
pub async fn reconstruct_and_train_with(
    b: &dyn Backend,
    model: &mut dyn Model,
    config: &ReconstructionConfig,
    data: &Dataset,
    opts: TrainOptions<'_>,
) -> Result<UnfinalizedMetrics> {
    let (settings, controls) = opts.split();
    let mut pacer = Pacer::new("reconstruct_and_train", controls);
    reconstruct_and_train_pass(b, model, config, data, settings, &mut pacer)
        .await?
        .report(b)
        .await
}

/// [`reconstruct_and_train`] without the read-back (see [`super::train_pass`]).
pub(crate) async fn reconstruct_and_train_pass(
    b: &dyn Backend,
    model: &mut dyn Model,
    config: &ReconstructionConfig,
    data: &Dataset,
    settings: PassSettings,
    pacer: &mut Pacer<'_>,
) -> Result<PassOutput> {
    let (recon, post) = config.split.split(data)?;
    let watched = reconstruct(
        b,
        model,
        &config.reconstruction_optimizer,
        &recon,
        settings,
        pacer,
    )
    .await?;
    let groups = [VariableGroup::GlobalTrainable];
    let mut opt = optimizer_for(b, model, &groups, config.client_optimizer.clone())?;
    let settings = PassSettings {
        first_step: settings.first_step.wrapping_add(1 << 20),
        phase: Phase::Train,
        ..settings
    };
    let mut parts = [GroupOptimizer {
        groups: &groups,
        optimizer: &mut opt,
    }];
    let pass = train_pass(b, model, &mut parts, &post, None, settings, pacer).await?;
    Ok(pass.after(watched))
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
    let opts = TrainOptions {
        seed,
        ..TrainOptions::default()
    };
    reconstruct_and_evaluate_with(b, model, reconstruction_optimizer, split, data, opts).await
}

/// [`reconstruct_and_evaluate`] with the options of [`super::train_local`]
/// (`opts.seed` seeds the reconstruction; `divergence` applies to it).
///
/// # Errors
/// As [`super::train_local`].
pub async fn reconstruct_and_evaluate_with(
    b: &dyn Backend,
    model: &mut dyn Model,
    reconstruction_optimizer: &OptimizerConfig,
    split: &ReconstructionSplit,
    data: &Dataset,
    opts: TrainOptions<'_>,
) -> Result<UnfinalizedMetrics> {
    let (settings, controls) = opts.split();
    let mut pacer = Pacer::new("reconstruct_and_evaluate", controls);
    reconstruct_and_evaluate_pass(
        b,
        model,
        reconstruction_optimizer,
        split,
        data,
        settings,
        &mut pacer,
    )
    .await?
    .report(b)
    .await
}

/// [`reconstruct_and_evaluate`] without the read-back (see [`super::train_pass`]).
pub(crate) async fn reconstruct_and_evaluate_pass(
    b: &dyn Backend,
    model: &mut dyn Model,
    reconstruction_optimizer: &OptimizerConfig,
    split: &ReconstructionSplit,
    data: &Dataset,
    settings: PassSettings,
    pacer: &mut Pacer<'_>,
) -> Result<PassOutput> {
    let (recon, post) = split.split(data)?;
    let watched = reconstruct(b, model, reconstruction_optimizer, &recon, settings, pacer).await?;
    Ok(evaluate_pass(b, model, &post, pacer).await?.after(watched))
}
