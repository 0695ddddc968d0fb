//! Federated evaluation builders (TFF's `build_fed_eval` and
//! `build_fed_recon_eval`).
//!
//! Their state's `client_work` holds the unfinalized metric sums of the last
//! round (`current_round_metrics`) and of all rounds so far
//! (`total_rounds_metrics`); the model never changes (set it with
//! [`LearningProcess::set_model_weights`]).

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::aggregation::ClientWeighting;
use super::client::ClientWork;
use super::process::{LearningProcess, ModelFn, ProcessParts};
use crate::backend::Backend;
use crate::data::ReconstructionSplit;
use crate::error::Result;
use crate::optim::OptimizerConfig;

/// Federated evaluation of a model without local variables: each client
/// computes the global model's metrics on its (batched) data.
///
/// # Errors
/// [`crate::Error::Model`] for a model with local variables (use
/// [`build_fed_recon_eval`]); whatever building the model reports.
pub fn build_fed_eval(model_fn: ModelFn, backend: Rc<dyn Backend>) -> Result<LearningProcess> {
    LearningProcess::new(
        backend,
        model_fn,
        ProcessParts {
            name: "fed_eval",
            work: ClientWork::Evaluate,
            weighting: ClientWeighting::NumExamples,
            server_optimizer: None,
            seed: 0,
            allow_local: false,
        },
    )
}

/// Configuration of [`build_fed_recon_eval`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FedReconEvalConfig {
    /// Reconstructs the local variables (default SGD 0.1).
    pub reconstruction_optimizer: OptimizerConfig,
    /// Splits each client's batches into reconstruction and evaluation
    /// (default: even batches reconstruct, odd batches evaluate).
    pub split: ReconstructionSplit,
    /// Seeds the model and the local variables' re-initialisation.
    pub seed: u64,
}

impl Default for FedReconEvalConfig {
    fn default() -> Self {
        FedReconEvalConfig {
            reconstruction_optimizer: OptimizerConfig::sgd(0.1),
            split: ReconstructionSplit {
                split_dataset: true,
                ..ReconstructionSplit::default()
            },
            seed: 0,
        }
    }
}

/// Federated reconstruction evaluation: each client re-initialises its local
/// variables (seeded per client and round), reconstructs them with the
/// global variables frozen, then computes metrics.
///
/// # Errors
/// [`crate::Error::Optimizer`] for an invalid optimizer; whatever building
/// the model reports.
pub fn build_fed_recon_eval(
    model_fn: ModelFn,
    backend: Rc<dyn Backend>,
    config: FedReconEvalConfig,
) -> Result<LearningProcess> {
    LearningProcess::new(
        backend,
        model_fn,
        ProcessParts {
            name: "fed_recon_eval",
            work: ClientWork::ReconstructEvaluate {
                reconstruction_optimizer: config.reconstruction_optimizer,
                split: config.split,
            },
            weighting: ClientWeighting::NumExamples,
            server_optimizer: None,
            seed: config.seed,
            allow_local: true,
        },
    )
}
