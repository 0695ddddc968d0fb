//! One client's work in a round, as a pure function: [`client_update`] takes
//! the broadcast global weights, the client's data (and, for stateful
//! clients, its [`ClientState`]) and returns a [`ClientOutput`]. Nothing in
//! it touches the server state, so a caller may run clients in parallel
//! (one model per worker) and feed the outputs to an aggregator in a fixed
//! order to get the same result as the sequential [`super::LearningProcess`].
//!
//! # Data layout
//! [`ClientOutput::update`] holds `client - global` for each global trainable
//! variable, row-major `f32`, in model order (empty for evaluation).
//! [`ClientState::local_weights`] holds the model's local variables
//! (trainable and non-trainable) in model order; it never leaves the client
//! in a real deployment, and here only goes back to the caller's store.

use serde::{Deserialize, Serialize};

use super::aggregation::ClientWeighting;
use super::weights::ModelWeights;
use crate::backend::Backend;
use crate::data::{Dataset, ReconstructionSplit};
use crate::error::{Error, Result};
use crate::metrics::{MetricKind, UnfinalizedMetrics};
use crate::model::{
    named, read_weights, variables_where, Model, NamedTensor, VariableGroup, VariableInfo,
};
use crate::optim::OptimizerConfig;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::train::{
    evaluate_pass, optimizer_for, reconstruct_and_evaluate_pass, reconstruct_and_train_pass,
    train_pass, Controls, GroupOptimizer, Pacer, PassOutput, PassSettings, Proximal,
    ReconstructionConfig,
};

/// The local variable groups.
pub(crate) const LOCAL: [VariableGroup; 2] = [
    VariableGroup::LocalTrainable,
    VariableGroup::LocalNonTrainable,
];

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
                            format!("proximal_strength must be finite and >= 0, got {mu}"),
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

/// A stateful client's state (seed 003's `ClientState`): its index and its
/// local variables. See the module docs for the layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientState {
    /// The client's index (the caller's key for its store).
    pub index: u64,
    /// The local variables, in model order.
    pub local_weights: Vec<NamedTensor>,
}

impl ClientState {
    /// Reads the local variables of `model`.
    ///
    /// # Errors
    /// Whatever [`Backend::read`] reports.
    pub async fn read(b: &dyn Backend, model: &dyn Model, index: u64) -> Result<Self> {
        let locals = read_weights(b, model, |g| !g.is_global()).await?;
        Ok(ClientState {
            index,
            local_weights: locals.variables,
        })
    }

    /// Uploads the local variables into `model`.
    ///
    /// # Errors
    /// [`Error::WeightsStructure`] when names or shapes differ from the
    /// model's local variables; nothing is assigned then.
    pub fn assign_to(&self, b: &dyn Backend, model: &mut dyn Model) -> Result<()> {
        const OP: &str = "ClientState::assign_to";
        let want: Vec<(usize, &str, &[usize])> = model
            .variables()
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.group.is_global())
            .map(|(i, v)| (i, v.name.as_str(), v.shape.as_slice()))
            .collect();
        let same = want.len() == self.local_weights.len()
            && want.iter().zip(&self.local_weights).all(|((_, n, s), w)| {
                *n == w.name
                    && *s == w.shape.as_slice()
                    && w.data.len() == s.iter().product::<usize>()
            });
        if !same {
            return Err(Error::WeightsStructure {
                op: OP,
                expected: format!(
                    "local variables {:?} of client {}",
                    want.iter().map(|(_, n, s)| (n, s)).collect::<Vec<_>>(),
                    self.index
                ),
                got: format!(
                    "{:?}",
                    self.local_weights
                        .iter()
                        .map(|w| (&w.name, &w.shape))
                        .collect::<Vec<_>>()
                ),
            });
        }
        let uploads: Vec<Tensor> = self
            .local_weights
            .iter()
            .map(|w| b.upload(&w.shape, &w.data))
            .collect::<Result<_>>()?;
        let slots: Vec<usize> = want.iter().map(|(i, _, _)| *i).collect();
        for (i, t) in slots.into_iter().zip(uploads) {
            model.values_mut()[i] = t;
        }
        Ok(())
    }
}

/// Everything about a client's round besides the model and data.
#[derive(Clone, Copy, Debug)]
pub struct ClientTask<'a> {
    /// What to do.
    pub work: &'a ClientWork,
    /// How to weight the client.
    pub weighting: ClientWeighting,
    /// The round's index (for learning-rate schedules).
    pub round: u64,
    /// This client's seed for the round (dropout masks, re-initialised local
    /// variables): see [`client_seed`].
    pub seed: u64,
}

/// One client's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOutput {
    /// `client - global` per global trainable variable (see the module docs).
    pub update: Vec<Vec<f32>>,
    /// The client's weight in the mean.
    pub weight: f64,
    /// The client's unfinalized metrics (`train` or `eval`).
    pub metrics: UnfinalizedMetrics,
    /// Stateful clients: the client's new state.
    pub client_state: Option<ClientState>,
}

/// The seed of client `client` in round `round` of a process seeded `seed`.
pub fn client_seed(seed: u64, round: u64, client: u64) -> u64 {
    Rng::derive(Rng::derive(seed, round).next_u64(), client).next_u64()
}

/// Runs one client's round: loads `global` into `model` (its global
/// variables), does `task.work` on `data` (batched), and reports the update,
/// weight, metrics and, for stateful clients, the new client state.
///
/// # Errors
/// [`Error::WeightsStructure`] when `global` or `client_state` does not fit
/// the model; [`Error::InvalidArgument`] when a stateful client has no state;
/// whatever training reports.
pub async fn client_update(
    b: &dyn Backend,
    model: &mut dyn Model,
    task: ClientTask<'_>,
    global: &ModelWeights,
    data: &Dataset,
    client_state: Option<&ClientState>,
) -> Result<ClientOutput> {
    client_update_with(
        b,
        model,
        task,
        global,
        data,
        client_state,
        Controls::default(),
    )
    .await
}

/// [`client_update`] under the host's `controls`: it yields every
/// `controls.yield_every` batches, reports each batch (counted over all of
/// the client's phases) and stops before the next batch once
/// `controls.cancel` is set. Training never fails on a non-finite loss here:
/// such a client's update is zeroed (see [`client_update`]).
///
/// # Errors
/// As [`client_update`]; [`Error::Cancelled`].
pub async fn client_update_with(
    b: &dyn Backend,
    model: &mut dyn Model,
    task: ClientTask<'_>,
    global: &ModelWeights,
    data: &Dataset,
    client_state: Option<&ClientState>,
    controls: Controls<'_>,
) -> Result<ClientOutput> {
    const OP: &str = "client_update";
    let mut pacer = Pacer::new(OP, controls);
    pacer.check()?;
    global.assign_to(OP, b, model)?;
    let opts = PassSettings::client(task.seed);
    let pacer = &mut pacer;
    // The work is recorded on the backend; its metric sums, the trained
    // globals and (stateful clients) the local variables are then read back
    // together, once.
    let acc = match task.work {
        ClientWork::Train {
            client_optimizer,
            proximal_strength,
        } => {
            let groups = [VariableGroup::GlobalTrainable];
            let mut opt = optimizer_for(b, model, &groups, client_optimizer.clone())?;
            opt.set_round(task.round);
            let anchor: Vec<Tensor> = match proximal_strength {
                Some(_) => model.values().to_vec(),
                None => Vec::new(),
            };
            let proximal = proximal_strength.map(|mu| Proximal {
                mu,
                anchor: &anchor,
            });
            let mut parts = [GroupOptimizer {
                groups: &groups,
                optimizer: &mut opt,
            }];
            train_pass(b, model, &mut parts, data, proximal, opts, pacer).await?
        }
        ClientWork::Reconstruct { config } => {
            model.reinitialize(b, &LOCAL, task.seed)?;
            reconstruct_and_train_pass(b, model, config, data, opts, pacer).await?
        }
        ClientWork::Stateful {
            client_optimizer,
            local_optimizer,
        } => {
            let state = client_state
                .ok_or_else(|| Error::invalid(OP, "a stateful client needs its ClientState"))?;
            state.assign_to(b, model)?;
            let global_groups = [VariableGroup::GlobalTrainable];
            let local_groups = [VariableGroup::LocalTrainable];
            let mut client_opt = optimizer_for(b, model, &global_groups, client_optimizer.clone())?;
            let mut local_opt = optimizer_for(b, model, &local_groups, local_optimizer.clone())?;
            client_opt.set_round(task.round);
            local_opt.set_round(task.round);
            let mut parts = [
                GroupOptimizer {
                    groups: &global_groups,
                    optimizer: &mut client_opt,
                },
                GroupOptimizer {
                    groups: &local_groups,
                    optimizer: &mut local_opt,
                },
            ];
            train_pass(b, model, &mut parts, data, None, opts, pacer).await?
        }
        ClientWork::Evaluate => evaluate_pass(b, model, data, pacer).await?,
        ClientWork::ReconstructEvaluate {
            reconstruction_optimizer,
            split,
        } => {
            model.reinitialize(b, &LOCAL, task.seed)?;
            reconstruct_and_evaluate_pass(
                b,
                model,
                reconstruction_optimizer,
                split,
                data,
                opts,
                pacer,
            )
            .await?
        }
    };
    let read = ClientReadBack::new(model, &acc, task.work);
    let mut values = b.read_many(&read.tensors()).await?;
    let locals = values.split_off(read.sums.len() + read.trained.len());
    let (sums, trained) = values.split_at(read.sums.len());
    let metrics = acc.metrics_from(sums)?;
    let mut update = if task.work.is_evaluation() {
        Vec::new()
    } else {
        model_delta(trained, global)?
    };
    let new_state = match (task.work, client_state) {
        (ClientWork::Stateful { .. }, Some(state)) => Some(ClientState {
            index: state.index,
            local_weights: named(&read.locals, locals)?,
        }),
        _ => None,
    };
    let num_examples = metrics.value(MetricKind::NumExamples).unwrap_or(0.0);
    let mut weight = task.weighting.weight(num_examples);
    // As TFF's client work (`zero_all_if_any_non_finite`): a client whose
    // update has a NaN or infinity sends zeros instead, with weight 0 when
    // weighting by examples (under uniform weighting TFF's unweighted mean
    // still counts it, so it keeps weight 1). The other clients' updates are
    // kept; the finalizer's non-finite check stays as a second guard.
    if update.iter().flatten().any(|v| !v.is_finite()) {
        update.iter_mut().flatten().for_each(|v| *v = 0.0);
        if task.weighting != ClientWeighting::Uniform {
            weight = 0.0;
        }
    }
    Ok(ClientOutput {
        update,
        weight,
        metrics,
        client_state: new_state,
    })
}

/// What a client reads back at the end, in one go: the pass's metric sums,
/// the global trainable variables (for the update) and, for stateful
/// clients, the local variables (the new client state).
struct ClientReadBack<'m> {
    sums: Vec<&'m Tensor>,
    trained: Vec<&'m Tensor>,
    locals: Vec<(&'m VariableInfo, &'m Tensor)>,
}

impl<'m> ClientReadBack<'m> {
    fn new(model: &'m dyn Model, acc: &'m PassOutput, work: &ClientWork) -> Self {
        let trained = if work.is_evaluation() {
            Vec::new()
        } else {
            variables_where(model, |g| g == VariableGroup::GlobalTrainable)
                .into_iter()
                .map(|(_, t)| t)
                .collect()
        };
        let locals = if matches!(work, ClientWork::Stateful { .. }) {
            variables_where(model, |g| !g.is_global())
        } else {
            Vec::new()
        };
        ClientReadBack {
            sums: acc.tensors(),
            trained,
            locals,
        }
    }

    /// Everything, in order: sums, trained globals, locals.
    fn tensors(&self) -> Vec<&'m Tensor> {
        let mut out = self.sums.clone();
        out.extend(&self.trained);
        out.extend(self.locals.iter().map(|(_, t)| *t));
        out
    }
}

/// `trained - global` for each global trainable variable, in `f32`.
fn model_delta(trained: &[Vec<f32>], global: &ModelWeights) -> Result<Vec<Vec<f32>>> {
    if trained.len() != global.trainable.len() {
        return Err(Error::WeightsStructure {
            op: "client_update",
            expected: format!("{} broadcast trainable variables", trained.len()),
            got: format!("{}", global.trainable.len()),
        });
    }
    Ok(trained
        .iter()
        .zip(&global.trainable)
        .map(|(now, g)| now.iter().zip(&g.data).map(|(c, g)| c - g).collect())
        .collect())
}
