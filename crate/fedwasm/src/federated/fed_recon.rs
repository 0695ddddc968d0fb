//! Federated Reconstruction (TFF's `tff.learning.algorithms.build_fed_recon`).
//!
//! Each round, every client re-initialises its local variables from
//! [`super::client_seed`]`(seed, round, client)`, reconstructs them on the
//! reconstruction half of its batches with the global variables frozen, then
//! trains the global variables on the other half with the locals frozen.
//! Only the global update leaves the client; the locals are dropped.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::aggregation::ClientWeighting;
use super::client::ClientWork;
use super::process::{LearningProcess, ModelFn, ProcessParts};
use crate::backend::Backend;
use crate::error::Result;
use crate::optim::OptimizerConfig;
use crate::train::ReconstructionConfig;

/// Configuration of [`build_fed_recon`]. Learning-rate schedules of the
/// reconstruction and client optimizers are evaluated at round 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FedReconConfig {
    /// Reconstruction optimizer (SGD 0.1), client optimizer (SGD 0.1) and
    /// dataset split (`split_dataset = true`).
    pub reconstruction: ReconstructionConfig,
    /// The server optimizer (SGD 1.0).
    pub server_optimizer: OptimizerConfig,
    /// Client weighting (by post-reconstruction examples).
    pub client_weighting: ClientWeighting,
    /// Seeds the initial model and the clients' local variables.
    pub seed: u64,
}

impl Default for FedReconConfig {
    fn default() -> Self {
        FedReconConfig {
            reconstruction: ReconstructionConfig::default(),
            server_optimizer: OptimizerConfig::sgd(1.0),
            client_weighting: ClientWeighting::NumExamples,
            seed: 0,
        }
    }
}

/// Federated Reconstruction (see the module docs).
///
/// # Errors
/// [`crate::Error::Optimizer`] for an invalid optimizer; whatever building
/// the model reports.
pub fn build_fed_recon(
    model_fn: ModelFn,
    backend: Rc<dyn Backend>,
    config: FedReconConfig,
) -> Result<LearningProcess> {
    LearningProcess::new(
        backend,
        model_fn,
        ProcessParts {
            name: "fed_recon",
            work: ClientWork::Reconstruct {
                config: config.reconstruction,
            },
            weighting: config.client_weighting,
            server_optimizer: Some(config.server_optimizer),
            seed: config.seed,
            allow_local: true,
        },
    )
}
