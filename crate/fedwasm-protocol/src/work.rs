//! What a client does in a round ([`ClientWork`]) and its configuration,
//! as plain data: it travels in every [`crate::messages::ClientTask`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Float, Result};
use crate::optim::OptimizerConfig;

/// What a client does in a round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum ClientWork {
    /// FedAvg (and FedProx when `proximal_strength` is set): train the global
    /// trainable variables with a fresh client optimizer.
    Train {
        /// The client optimizer (its schedule is indexed by round).
        client_optimizer: OptimizerConfig,
        /// FedProx's `mu`: adds `mu * (w - w_global)` to each gradient.
        proximal_strength: Option<f32>,
    },
    /// FedRecon: re-initialise the local variables (seeded per client and
    /// round), reconstruct them with globals frozen, then train globals.
    Reconstruct {
        /// Optimizers and data split.
        config: ReconstructionConfig,
    },
    /// Seed 003's stateful clients: start from the client's saved local
    /// variables, train globals with the client optimizer and locals with
    /// the local optimizer on every batch, return the new local variables.
    Stateful {
        /// Trains the global variables.
        client_optimizer: OptimizerConfig,
        /// Trains the local variables.
        local_optimizer: OptimizerConfig,
    },
    /// FedEval: metrics of the global model.
    Evaluate,
    /// FedReconEval: reconstruct the local variables, then compute metrics.
    ReconstructEvaluate {
        /// Trains the local variables.
        reconstruction_optimizer: OptimizerConfig,
        /// How the client's batches split between the two phases.
        split: ReconstructionSplit,
    },
}

impl ClientWork {
    /// True for the evaluation kinds (no update, no server optimizer).
    pub fn is_evaluation(&self) -> bool {
        matches!(
            self,
            ClientWork::Evaluate | ClientWork::ReconstructEvaluate { .. }
        )
    }

    /// Checks the optimizer configurations and the proximal strength.
    ///
    /// # Errors
    /// [`Error::Optimizer`] or [`Error::InvalidArgument`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        match self {
            ClientWork::Train {
                client_optimizer,
                proximal_strength,
            } => {
                client_optimizer.validate()?;
                if let Some(mu) = proximal_strength {
                    if !(mu.is_finite() && *mu >= 0.0) {
                        return Err(Error::invalid(
                            "build_fed_prox",
                            format!(
                                "proximal_strength must be finite and >= 0, got {}",
                                Float(*mu)
                            ),
                        ));
                    }
                }
                Ok(())
            }
            ClientWork::Reconstruct { config } => {
                config.reconstruction_optimizer.validate()?;
                config.client_optimizer.validate()
            }
            ClientWork::Stateful {
                client_optimizer,
                local_optimizer,
            } => {
                client_optimizer.validate()?;
                local_optimizer.validate()
            }
            ClientWork::Evaluate => Ok(()),
            ClientWork::ReconstructEvaluate {
                reconstruction_optimizer,
                ..
            } => reconstruction_optimizer.validate(),
        }
    }
}

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

/// How to derive the reconstruction and post-reconstruction datasets from a
/// client's dataset (`tff.learning.reconstruction.build_dataset_split_fn`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconstructionSplit {
    /// Passes over the data during reconstruction (at least 1).
    pub recon_epochs: usize,
    /// Cap on reconstruction steps (batches) over all passes.
    pub recon_steps_max: Option<usize>,
    /// Passes over the data after reconstruction (at least 1).
    pub post_recon_epochs: usize,
    /// Cap on post-reconstruction steps (batches) over all passes.
    pub post_recon_steps_max: Option<usize>,
    /// Use even-indexed batches for reconstruction and odd-indexed ones after.
    pub split_dataset: bool,
}

impl Default for ReconstructionSplit {
    fn default() -> Self {
        ReconstructionSplit {
            recon_epochs: 1,
            recon_steps_max: None,
            post_recon_epochs: 1,
            post_recon_steps_max: None,
            split_dataset: false,
        }
    }
}
