//! Stateful clients (seed 003): FedAvg over the global variables while each
//! client keeps its own local variables between the rounds it takes part in.
//!
//! The caller keeps the client states (for example a map from index to
//! [`ClientState`], or IndexedDB in a browser): it passes each selected
//! client's state to [`StatefulProcess::next`] next to its data and stores
//! the states that come back. A client never seen before starts from
//! [`StatefulProcess::initial_client_state`]. In a round, a client loads its
//! state, then trains on every batch the global variables with the client
//! optimizer and its local variables with the local optimizer (both fresh
//! each round, as in seed 003); only the global update is aggregated.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::aggregation::ClientWeighting;
use super::client::{client_seed, read_client_state, ClientState, ClientWork, LOCAL};
use super::control::RoundOptions;
use super::metrics::RoundMetrics;
use super::process::{LearningProcess, ModelFn, ProcessParts};
use super::state::LearningProcessState;
use super::weights::ModelWeights;
use crate::backend::Backend;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::optim::OptimizerConfig;

/// Configuration of [`build_stateful_fed_avg`]; the defaults are seed 003's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatefulConfig {
    /// Trains the global variables on the client (SGD 0.1).
    pub client_optimizer: OptimizerConfig,
    /// Trains the client's local variables (SGD 0.5).
    pub local_optimizer: OptimizerConfig,
    /// The server optimizer (SGD 1.0).
    pub server_optimizer: OptimizerConfig,
    /// Client weighting (by examples).
    pub client_weighting: ClientWeighting,
    /// Seeds the model, the clients' initial states and their randomness.
    pub seed: u64,
}

impl Default for StatefulConfig {
    fn default() -> Self {
        StatefulConfig {
            client_optimizer: OptimizerConfig::sgd(0.1),
            local_optimizer: OptimizerConfig::sgd(0.5),
            server_optimizer: OptimizerConfig::sgd(1.0),
            client_weighting: ClientWeighting::NumExamples,
            seed: 0,
        }
    }
}

/// The result of [`StatefulProcess::next`].
#[derive(Clone, Debug, PartialEq)]
pub struct StatefulOutput {
    /// The new server state.
    pub state: LearningProcessState,
    /// The round's metrics (as FedAvg's).
    pub metrics: RoundMetrics,
    /// The clients' new states, in the order they were passed.
    pub client_states: Vec<ClientState>,
}

/// A learning process whose clients keep state (see the module docs).
pub struct StatefulProcess {
    inner: LearningProcess,
    seed: u64,
}

/// FedAvg with stateful clients (seed 003's `build_federated_averaging_process`).
///
/// # Errors
/// [`crate::Error::Optimizer`] for an invalid optimizer; whatever building
/// the model reports.
pub fn build_stateful_fed_avg(
    model_fn: ModelFn,
    backend: Rc<dyn Backend>,
    config: StatefulConfig,
) -> Result<StatefulProcess> {
    let inner = LearningProcess::new(
        backend,
        model_fn,
        ProcessParts {
            name: "stateful_fed_avg",
            work: ClientWork::Stateful {
                client_optimizer: config.client_optimizer,
                local_optimizer: config.local_optimizer,
            },
            weighting: config.client_weighting,
            server_optimizer: Some(config.server_optimizer),
            seed: config.seed,
            allow_local: true,
        },
    )?;
    Ok(StatefulProcess {
        inner,
        seed: config.seed,
    })
}

impl StatefulProcess {
    /// The underlying process (for its model, variables and checks).
    pub fn process(&self) -> &LearningProcess {
        &self.inner
    }

    /// As [`LearningProcess::initialize`].
    ///
    /// # Errors
    /// As [`LearningProcess::initialize`].
    pub async fn initialize(&self) -> Result<LearningProcessState> {
        self.inner.initialize().await
    }

    /// As [`LearningProcess::get_model_weights`].
    ///
    /// # Errors
    /// As [`LearningProcess::get_model_weights`].
    pub fn get_model_weights(&self, state: &LearningProcessState) -> Result<ModelWeights> {
        self.inner.get_model_weights(state)
    }

    /// As [`LearningProcess::set_model_weights`].
    ///
    /// # Errors
    /// As [`LearningProcess::set_model_weights`].
    pub fn set_model_weights(
        &self,
        state: &LearningProcessState,
        weights: ModelWeights,
    ) -> Result<LearningProcessState> {
        self.inner.set_model_weights(state, weights)
    }

    /// The state of client `index` before its first round: its local
    /// variables drawn from [`client_seed`]`(seed, u64::MAX, index)`.
    ///
    /// # Errors
    /// Whatever building the model or reading it reports.
    pub async fn initial_client_state(&self, index: u64) -> Result<ClientState> {
        let seed = client_seed(self.seed, u64::MAX, index);
        let on = |b: Rc<dyn Backend>| async move {
            let mut model = self.inner.new_model_on(b.as_ref())?;
            model.reinitialize(b.as_ref(), &LOCAL, seed)?;
            read_client_state(b.as_ref(), model.as_ref(), index).await
        };
        match on(self.inner.backend()).await {
            Err(Error::DeviceLost { .. }) => on(self.inner.fall_back_to_cpu()).await,
            other => other,
        }
    }

    /// Runs one round: client `i` trains on `clients[i]` starting from
    /// `client_states[i]`; its randomness is seeded by
    /// [`client_seed`]`(seed, round, client_states[i].index)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the two lists differ in length or an
    /// index repeats; [`Error::WeightsStructure`] for a client state of
    /// another model; otherwise as [`LearningProcess::next`].
    pub async fn next(
        &self,
        state: &LearningProcessState,
        clients: &[Dataset],
        client_states: &[ClientState],
    ) -> Result<StatefulOutput> {
        self.next_with(state, clients, client_states, RoundOptions::default())
            .await
    }

    /// [`StatefulProcess::next`] under the host's `opts`, as
    /// [`LearningProcess::next_with`]. A cancelled round returns no client
    /// states: the caller keeps the ones it passed.
    ///
    /// # Errors
    /// As [`StatefulProcess::next`]; [`Error::Cancelled`].
    pub async fn next_with(
        &self,
        state: &LearningProcessState,
        clients: &[Dataset],
        client_states: &[ClientState],
        opts: RoundOptions<'_>,
    ) -> Result<StatefulOutput> {
        const OP: &str = "StatefulProcess::next";
        if clients.len() != client_states.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "{} client datasets but {} client states",
                    clients.len(),
                    client_states.len()
                ),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in client_states {
            if !seen.insert(s.index) {
                return Err(Error::invalid(
                    OP,
                    format!("client index {} appears twice in one round", s.index),
                ));
            }
        }
        let (out, client_states) = self
            .inner
            .run_round(state, clients, Some(client_states), opts)
            .await?;
        Ok(StatefulOutput {
            state: out.state,
            metrics: out.metrics,
            client_states,
        })
    }
}
