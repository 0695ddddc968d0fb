//! Federated Averaging and FedProx builders (TFF's
//! `build_weighted_fed_avg`, `build_unweighted_fed_avg`,
//! `build_weighted_fed_prox`).

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::aggregation::ClientWeighting;
use super::client::ClientWork;
use super::process::{LearningProcess, ModelFn, ProcessParts};
use crate::backend::Backend;
use crate::error::Result;
use crate::optim::OptimizerConfig;

/// The optimizers and seed of FedAvg and FedProx.
///
/// JSON: `{"client_optimizer": {..}, "server_optimizer": {..}, "seed": 0}`
/// (optimizers as [`OptimizerConfig`]; missing fields take the defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FedAvgConfig {
    /// Trains each client's copy of the model (TFF's `client_optimizer_fn`;
    /// default SGD 0.01, `build_sgdm`'s default). Fresh for every client and
    /// round; its learning-rate schedule is indexed by round.
    pub client_optimizer: OptimizerConfig,
    /// Applies the mean update on the server (default SGD 1.0: plain averaging).
    pub server_optimizer: OptimizerConfig,
    /// Seeds the initial model and every client's randomness.
    pub seed: u64,
}

impl Default for FedAvgConfig {
    fn default() -> Self {
        FedAvgConfig {
            client_optimizer: OptimizerConfig::default(),
            server_optimizer: OptimizerConfig::sgd(1.0),
            seed: 0,
        }
    }
}

impl FedAvgConfig {
    /// The defaults with this client optimizer.
    pub fn with_client_optimizer(client_optimizer: OptimizerConfig) -> Self {
        FedAvgConfig {
            client_optimizer,
            ..FedAvgConfig::default()
        }
    }
}

fn build(
    name: &'static str,
    model_fn: ModelFn,
    backend: Rc<dyn Backend>,
    config: FedAvgConfig,
    weighting: ClientWeighting,
    proximal_strength: Option<f32>,
) -> Result<LearningProcess> {
    LearningProcess::new(
        backend,
        model_fn,
        ProcessParts {
            name,
            work: ClientWork::Train {
                client_optimizer: config.client_optimizer,
                proximal_strength,
            },
            weighting,
            server_optimizer: Some(config.server_optimizer),
            seed: config.seed,
            allow_local: false,
        },
    )
}

/// FedAvg with clients weighted by `client_weighting` (TFF's default:
/// [`ClientWeighting::NumExamples`]). The model must have only global
/// variables.
///
/// # Errors
/// [`crate::Error::Optimizer`] for an invalid optimizer;
/// [`crate::Error::Model`] for a model with local variables; whatever
/// building the model reports.
pub fn build_weighted_fed_avg(
    model_fn: ModelFn,
    backend: Rc<dyn Backend>,
    config: FedAvgConfig,
    client_weighting: ClientWeighting,
) -> Result<LearningProcess> {
    build(
        "weighted_fed_avg",
        model_fn,
        backend,
        config,
        client_weighting,
        None,
    )
}

/// FedAvg with every client weighted 1 ([`ClientWeighting::Uniform`]).
///
/// # Errors
/// As [`build_weighted_fed_avg`].
pub fn build_unweighted_fed_avg(
    model_fn: ModelFn,
    backend: Rc<dyn Backend>,
    config: FedAvgConfig,
) -> Result<LearningProcess> {
    build(
        "unweighted_fed_avg",
        model_fn,
        backend,
        config,
        ClientWeighting::Uniform,
        None,
    )
}

/// FedProx: FedAvg whose local training adds `proximal_strength * (w -
/// w_global)` to the gradient of every global trainable variable `w`
/// (`w_global`: the broadcast weights). With strength 0 it is FedAvg.
///
/// # Errors
/// As [`build_weighted_fed_avg`]; [`crate::Error::InvalidArgument`] for a
/// negative or non-finite strength.
pub fn build_fed_prox(
    model_fn: ModelFn,
    backend: Rc<dyn Backend>,
    config: FedAvgConfig,
    proximal_strength: f32,
    client_weighting: ClientWeighting,
) -> Result<LearningProcess> {
    build(
        "fed_prox",
        model_fn,
        backend,
        config,
        client_weighting,
        Some(proximal_strength),
    )
}
