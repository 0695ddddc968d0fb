//! Seed 000's local reconstruction: train local variables with their own
//! optimizer while globals stay frozen, then train globals with locals frozen
//! (training), or compute metrics with the reconstructed locals (evaluation).

use serde::{Deserialize, Serialize};

use super::{evaluate, optimizer_for, train_local, TrainOptions};
use crate::backend::Backend;
use crate::data::{Dataset, ReconstructionSplit};
use crate::error::Result;
use crate::metrics::UnfinalizedMetrics;
use crate::model::{Model, VariableGroup};
use crate::optim::OptimizerConfig;

/// Optimizers and data split of a reconstruction client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconstructionConfig {
    /// Trains the local variables (TFF default: SGD 0.1).
    pub reconstruction_optimizer: OptimizerConfig,
    /// Trains the global variables after reconstruction (TFF default: SGD 0.1).
    pub client_optimizer: OptimizerConfig,
    /// How the client's batches split between the two phases.
    pub split: ReconstructionSplit,
}

impl Default for ReconstructionConfig {
    fn default() -> Self {
        ReconstructionConfig {
            reconstruction_optimizer: OptimizerConfig::sgd(0.1),
            client_optimizer: OptimizerConfig::sgd(0.1),
            split: ReconstructionSplit {
                split_dataset: true,
                ..ReconstructionSplit::default()
            },
        }
    }
}

async fn reconstruct(
    b: &dyn Backend,
    model: &mut dyn Model,
    config: &OptimizerConfig,
    data: &Dataset,
    seed: u64,
) -> Result<()> {
    let mut opt = optimizer_for(b, model, &[VariableGroup::LocalTrainable], config.clone())?;
    let opts = TrainOptions {
        seed,
        ..TrainOptions::default()
    };
    train_local(
        b,
        model,
        &mut opt,
        data,
        &[VariableGroup::LocalTrainable],
        opts,
    )
    .await?;
    Ok(())
}

/// Reconstruction training on one client: local variables on the
/// reconstruction half, then global variables on the other half. Returns the
/// metrics of the second phase (as TFF's FedRecon reports).
///
/// # Errors
/// As [`train_local`].
pub async fn reconstruct_and_train(
    b: &dyn Backend,
    model: &mut dyn Model,
    config: &ReconstructionConfig,
    data: &Dataset,
    seed: u64,
) -> Result<UnfinalizedMetrics> {
    let (recon, post) = config.split.split(data)?;
    reconstruct(b, model, &config.reconstruction_optimizer, &recon, seed).await?;
    let mut opt = optimizer_for(
        b,
        model,
        &[VariableGroup::GlobalTrainable],
        config.client_optimizer.clone(),
    )?;
    let opts = TrainOptions {
        seed,
        first_step: 1 << 20,
        progress: None,
    };
    train_local(
        b,
        model,
        &mut opt,
        &post,
        &[VariableGroup::GlobalTrainable],
        opts,
    )
    .await
}

/// Reconstruction evaluation (FedReconEval): reconstruct the local variables
/// on the first half, then evaluate on the second with globals fixed.
///
/// # Errors
/// As [`train_local`].
pub async fn reconstruct_and_evaluate(
    b: &dyn Backend,
    model: &mut dyn Model,
    reconstruction_optimizer: &OptimizerConfig,
    split: &ReconstructionSplit,
    data: &Dataset,
    seed: u64,
) -> Result<UnfinalizedMetrics> {
    let (recon, post) = split.split(data)?;
    reconstruct(b, model, reconstruction_optimizer, &recon, seed).await?;
    evaluate(b, model, &post).await
}
