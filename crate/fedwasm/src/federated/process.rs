//! [`LearningProcess`]: seed 004's `tff.learning.templates.LearningProcess`
//! (`initialize`, `next`, `get_model_weights`, `set_model_weights`), one type
//! for every algorithm; the builders in [`super`] choose its client work,
//! weighting and server optimizer.
//!
//! A round ([`LearningProcess::next`]) is: check the state and every client's
//! data; then, client by client, [`client_update`] and
//! [`Round::accept`] (streaming aggregation, O(model size)); then
//! [`Round::finish`]: the aggregate goes through the server finalizer, and
//! metrics are summed then finalized. Callers that want to train clients
//! in parallel use [`LearningProcess::begin_round`], [`Round::task`] and
//! [`client_update`] themselves, and accept the outputs in client order.

use std::cell::RefCell;
use std::rc::Rc;

use super::aggregation::{AggregationRound, ClientWeighting, MeanAggregator, ModelAggregator};
use super::client::{
    client_seed, client_update_with, ClientOutput, ClientState, ClientTask, ClientWork,
};
use super::control::{RoundControl, RoundOptions};
use super::finalizer::apply_server_update;
use super::metrics::{ClientWorkMetrics, EvalMetrics, FinalizerMetrics, RoundMetrics};
use super::state::{ClientWorkState, Empty, EvalState, FinalizerState, LearningProcessState};
use super::weights::ModelWeights;
use crate::backend::{Backend, CpuBackend};
use crate::data::{Dataset, ElementSpec};
use crate::error::{Error, Result};
use crate::metrics::UnfinalizedMetrics;
use crate::model::{GraphModel, Model, ModelSpec, VariableInfo};
use crate::optim::{Optimizer, OptimizerConfig};

/// Builds a model on a backend from a seed (TFF's `model_fn`). Called once
/// by the builder (to learn the variables) and once per round.
pub type ModelFn = Rc<dyn Fn(&dyn Backend, u64) -> Result<Box<dyn Model>>>;

/// A [`ModelFn`] for a described model.
pub fn model_fn(spec: ModelSpec) -> ModelFn {
    Rc::new(
        move |b: &dyn Backend, seed: u64| -> Result<Box<dyn Model>> {
            Ok(Box::new(GraphModel::new(spec.clone(), b, seed)?))
        },
    )
}

/// The result of [`LearningProcess::next`] (TFF's `LearningProcessOutput`).
#[derive(Clone, Debug, PartialEq)]
pub struct LearningProcessOutput {
    /// The new server state.
    pub state: LearningProcessState,
    /// The round's metrics.
    pub metrics: RoundMetrics,
}

/// A federated learning or evaluation process. Built by
/// [`super::build_weighted_fed_avg`] and its siblings.
pub struct LearningProcess {
    name: &'static str,
    /// The backend in use: the one given, until its device is lost; then
    /// the CPU (see [`LearningProcess::next`]).
    backend: RefCell<Rc<dyn Backend>>,
    model_fn: ModelFn,
    work: ClientWork,
    weighting: ClientWeighting,
    server_optimizer: Option<OptimizerConfig>,
    aggregator: Rc<dyn ModelAggregator>,
    seed: u64,
    variables: Vec<VariableInfo>,
    input_spec: ElementSpec,
}

/// The parts of a process a builder chooses.
pub(crate) struct ProcessParts {
    pub name: &'static str,
    pub work: ClientWork,
    pub weighting: ClientWeighting,
    /// `None` for evaluation.
    pub server_optimizer: Option<OptimizerConfig>,
    pub seed: u64,
    /// Whether the model may have local variables.
    pub allow_local: bool,
}

impl LearningProcess {
    /// Assembles a process; builds one model to learn its variables.
    pub(crate) fn new(
        backend: Rc<dyn Backend>,
        model_fn: ModelFn,
        parts: ProcessParts,
    ) -> Result<Self> {
        parts.work.validate()?;
        if let Some(c) = &parts.server_optimizer {
            c.validate()?;
        }
        let model = model_fn(backend.as_ref(), parts.seed)?;
        if !parts.allow_local && !model.has_only_global_variables() {
            let locals: Vec<&str> = model
                .variables()
                .iter()
                .filter(|v| !v.group.is_global())
                .map(|v| v.name.as_str())
                .collect();
            return Err(Error::Model {
                model: model.name().to_string(),
                detail: format!(
                    "{} needs a model without local variables, found {locals:?}; use build_fed_recon or build_stateful_fed_avg",
                    parts.name
                ),
            });
        }
        Ok(LearningProcess {
            name: parts.name,
            variables: model.variables().to_vec(),
            input_spec: model.input_spec().clone(),
            backend: RefCell::new(backend),
            model_fn,
            work: parts.work,
            weighting: parts.weighting,
            server_optimizer: parts.server_optimizer,
            aggregator: Rc::new(MeanAggregator),
            seed: parts.seed,
        })
    }

    /// Replaces the model aggregator (default: [`MeanAggregator`]). States
    /// made with another aggregator are not assignable afterwards.
    pub fn with_model_aggregator(mut self, aggregator: Rc<dyn ModelAggregator>) -> Self {
        self.aggregator = aggregator;
        self
    }

    /// The algorithm's name (`"weighted_fed_avg"`, `"fed_recon"`, ..).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What clients do.
    pub fn client_work(&self) -> &ClientWork {
        &self.work
    }

    /// How clients are weighted.
    pub fn client_weighting(&self) -> ClientWeighting {
        self.weighting
    }

    /// The backend the process runs on now: the one it was built with, or
    /// the CPU after that backend's device was lost.
    pub fn backend(&self) -> Rc<dyn Backend> {
        self.backend.borrow().clone()
    }

    /// Switches to the CPU backend for good (the GPU device is gone) and
    /// returns it.
    pub(crate) fn fall_back_to_cpu(&self) -> Rc<dyn Backend> {
        let cpu: Rc<dyn Backend> = Rc::new(CpuBackend::new());
        *self.backend.borrow_mut() = cpu.clone();
        cpu
    }

    /// The model's variables (all four groups).
    pub fn variables(&self) -> &[VariableInfo] {
        &self.variables
    }

    /// What one example of a client's data must look like.
    pub fn input_spec(&self) -> &ElementSpec {
        &self.input_spec
    }

    /// A fresh model, as the process builds it each round (seeded by the
    /// process seed; the global variables are then overwritten).
    ///
    /// # Errors
    /// Whatever the model constructor reports.
    pub fn new_model(&self) -> Result<Box<dyn Model>> {
        self.new_model_on(self.backend().as_ref())
    }

    /// [`LearningProcess::new_model`] on the backend `b`.
    pub(crate) fn new_model_on(&self, b: &dyn Backend) -> Result<Box<dyn Model>> {
        (self.model_fn)(b, self.seed)
    }

    /// The initial state: the model's initial global weights, the server
    /// optimizer's fresh state, round 0.
    ///
    /// # Errors
    /// Whatever building the model or reading it back reports.
    pub async fn initialize(&self) -> Result<LearningProcessState> {
        match self.initialize_on(self.backend()).await {
            Err(Error::DeviceLost { .. }) => self.initialize_on(self.fall_back_to_cpu()).await,
            other => other,
        }
    }

    async fn initialize_on(&self, b: Rc<dyn Backend>) -> Result<LearningProcessState> {
        let b = b.as_ref();
        let model = self.new_model_on(b)?;
        let weights = ModelWeights::read(b, model.as_ref()).await?;
        let server_optimizer = match &self.server_optimizer {
            None => None,
            Some(c) => Some(
                Optimizer::new(c.clone(), b, &weights.trainable_shapes())?
                    .state(b)
                    .await?,
            ),
        };
        Ok(LearningProcessState {
            global_model_weights: weights,
            distributor: Empty {},
            client_work: ClientWorkState {
                eval: self.work.is_evaluation().then(EvalState::default),
            },
            aggregator: self.aggregator.initialize(),
            finalizer: FinalizerState {
                round: 0,
                server_optimizer,
            },
        })
    }

    /// The global model weights of `state`.
    ///
    /// # Errors
    /// [`Error::StateNotAssignable`] when `state` is not this process's.
    pub fn get_model_weights(&self, state: &LearningProcessState) -> Result<ModelWeights> {
        self.check_state("get_model_weights", state)?;
        Ok(state.global_model_weights.clone())
    }

    /// `state` with its global model weights replaced by `weights` (the rest,
    /// server optimizer included, is kept).
    ///
    /// # Errors
    /// [`Error::StateNotAssignable`] when `state` is not this process's;
    /// [`Error::WeightsStructure`] when `weights` do not have the model's
    /// global structure; [`Error::NonFinite`] for NaN or infinite weights.
    pub fn set_model_weights(
        &self,
        state: &LearningProcessState,
        weights: ModelWeights,
    ) -> Result<LearningProcessState> {
        const OP: &str = "set_model_weights";
        self.check_state(OP, state)?;
        weights.check_structure(OP, &self.variables)?;
        if !weights.is_finite() {
            return Err(Error::NonFinite {
                op: OP,
                detail: "the new model weights hold NaN or an infinity".into(),
            });
        }
        let mut new = state.clone();
        new.global_model_weights = weights;
        Ok(new)
    }

    /// Runs one round on `clients` (one batched dataset per client, in a
    /// fixed order). Client `i`'s randomness is seeded by
    /// [`client_seed`]`(seed, round, i)`.
    ///
    /// # Errors
    /// [`Error::StateNotAssignable`] for a state of another process;
    /// [`Error::ClientDataSpec`] for a client dataset that is unbatched or
    /// of another element spec (checked for every client before any
    /// training); [`Error::InvalidArgument`] for a stateful process (use
    /// [`super::StatefulProcess::next`]); whatever training reports.
    /// Yields to the host as [`RoundOptions::default`] says.
    pub async fn next(
        &self,
        state: &LearningProcessState,
        clients: &[Dataset],
    ) -> Result<LearningProcessOutput> {
        self.next_with(state, clients, RoundOptions::default())
            .await
    }

    /// [`LearningProcess::next`] under the host's `opts`: yields every
    /// `opts.yield_every` batches and between clients, reports every batch
    /// and every finished client ([`super::RoundProgress`]), and stops
    /// before the next batch or client once `opts.cancel` is set. A
    /// cancelled round changes nothing: `state` is only read, and running
    /// the round again gives the result of an uninterrupted one.
    ///
    /// # Errors
    /// As [`LearningProcess::next`]; [`Error::Cancelled`].
    pub async fn next_with(
        &self,
        state: &LearningProcessState,
        clients: &[Dataset],
        opts: RoundOptions<'_>,
    ) -> Result<LearningProcessOutput> {
        if matches!(self.work, ClientWork::Stateful { .. }) {
            return Err(Error::invalid(
                "LearningProcess::next",
                "stateful clients need their states: use StatefulProcess::next",
            ));
        }
        Ok(self.run_round(state, clients, None, opts).await?.0)
    }

    /// The round engine shared with [`super::StatefulProcess`].
    pub(crate) async fn run_round(
        &self,
        state: &LearningProcessState,
        clients: &[Dataset],
        client_states: Option<&[ClientState]>,
        opts: RoundOptions<'_>,
    ) -> Result<(LearningProcessOutput, Vec<ClientState>)> {
        const OP: &str = "LearningProcess::next";
        let mut control = RoundControl::new(opts, clients.len());
        let mut round = self.begin_round(state)?;
        self.check_client_data(OP, clients)?;
        let mut b = self.backend();
        let mut model = match self.new_model() {
            Err(Error::DeviceLost { .. }) => {
                b = self.fall_back_to_cpu();
                self.new_model()?
            }
            other => other?,
        };
        for (i, data) in clients.iter().enumerate() {
            if i > 0 {
                control.pacing.yield_to_host().await;
            }
            control.pacing.check(OP)?;
            let cs = client_states.map(|s| &s[i]);
            let key = cs.map_or(i as u64, |s| s.index);
            let task = round.task(key);
            let global = &state.global_model_weights;
            let pacing = control.pacing.clone();
            let mut reporter = control.client(i);
            let mut on_batch = |p| reporter.batch(p);
            let controls = pacing.controls(&mut on_batch);
            let out = match client_update_with(
                b.as_ref(),
                model.as_mut(),
                task,
                global,
                data,
                cs,
                controls,
            )
            .await
            {
                // The GPU is gone mid-round: this client's work (whatever
                // part ran) is redone on the CPU, and so is the rest.
                Err(Error::DeviceLost { .. }) => {
                    b = self.fall_back_to_cpu();
                    model = self.new_model()?;
                    let controls = pacing.controls(&mut on_batch);
                    client_update_with(b.as_ref(), model.as_mut(), task, global, data, cs, controls)
                        .await?
                }
                other => other?,
            };
            let last = reporter.last();
            control.finished(i, last, &out.metrics);
            round.accept(out)?;
        }
        control.pacing.check(OP)?;
        round.finish().await
    }

    /// Checks each client's dataset: batched, with the model's element spec.
    ///
    /// # Errors
    /// [`Error::ClientDataSpec`] naming the first bad client.
    pub fn check_client_data(&self, op: &'static str, clients: &[Dataset]) -> Result<()> {
        for (i, d) in clients.iter().enumerate() {
            let bad = |got: String| Error::ClientDataSpec {
                op,
                client: i,
                expected: format!("batches of {:?}", self.input_spec),
                got,
            };
            if !d.is_batched() {
                return Err(bad(format!("unbatched examples of {:?}", d.element_spec())));
            }
            if d.element_spec() != &self.input_spec {
                return Err(bad(format!("batches of {:?}", d.element_spec())));
            }
        }
        Ok(())
    }

    /// Checks that `state` has this process's structure (TFF's
    /// assignability): global weights, client work, finalizer.
    ///
    /// # Errors
    /// [`Error::StateNotAssignable`] naming `op` and the first difference.
    pub fn check_state(&self, op: &'static str, state: &LearningProcessState) -> Result<()> {
        let fail = |detail: String| Error::StateNotAssignable { op, detail };
        state
            .global_model_weights
            .check_structure(op, &self.variables)
            .map_err(|e| match e {
                Error::WeightsStructure { expected, got, .. } => fail(format!(
                    "global_model_weights of {} has {got}; the process's model has {expected}",
                    self.name
                )),
                other => other,
            })?;
        let is_eval = self.work.is_evaluation();
        if state.client_work.eval.is_some() != is_eval {
            return Err(fail(format!(
                "client_work is {} state but {} is {}",
                if state.client_work.eval.is_some() {
                    "an evaluation"
                } else {
                    "a training"
                },
                self.name,
                if is_eval {
                    "an evaluation"
                } else {
                    "a training"
                }
            )));
        }
        match (&self.server_optimizer, &state.finalizer.server_optimizer) {
            (None, None) => {}
            (Some(c), Some(s)) => {
                let shapes = state.global_model_weights.trainable_shapes();
                if s.optimizer != c.rule.name() || s.shapes != shapes {
                    return Err(fail(format!(
                        "finalizer.server_optimizer is {:?} for shapes {:?}; {} uses {:?} for {shapes:?}",
                        s.optimizer,
                        s.shapes,
                        self.name,
                        c.rule.name()
                    )));
                }
            }
            (c, s) => {
                return Err(fail(format!(
                    "finalizer {} a server optimizer state but {} {} one",
                    if s.is_some() { "has" } else { "lacks" },
                    self.name,
                    if c.is_some() { "needs" } else { "has no" }
                )))
            }
        }
        Ok(())
    }

    /// Starts a round from `state` (checked): the way to drive clients
    /// yourself, for example in parallel.
    ///
    /// # Errors
    /// [`Error::StateNotAssignable`] when `state` is not this process's.
    pub fn begin_round<'p>(&'p self, state: &'p LearningProcessState) -> Result<Round<'p>> {
        self.check_state("LearningProcess::next", state)?;
        let shapes = if self.work.is_evaluation() {
            Vec::new()
        } else {
            state.global_model_weights.trainable_shapes()
        };
        Ok(Round {
            process: self,
            state,
            aggregation: self.aggregator.start(&state.aggregator, &shapes)?,
            metrics: UnfinalizedMetrics::default(),
            client_states: Vec::new(),
        })
    }
}

/// One round in progress: accepts client outputs in order, then finishes.
pub struct Round<'p> {
    process: &'p LearningProcess,
    state: &'p LearningProcessState,
    aggregation: Box<dyn AggregationRound>,
    metrics: UnfinalizedMetrics,
    client_states: Vec<ClientState>,
}

impl Round<'_> {
    /// The task of the client whose key is `client` (its position in the
    /// round, or a stateful client's index): work, weighting, round, seed.
    pub fn task(&self, client: u64) -> ClientTask<'_> {
        let round = self.state.finalizer.round;
        ClientTask {
            work: &self.process.work,
            weighting: self.process.weighting,
            round,
            seed: client_seed(self.process.seed, round, client),
        }
    }

    /// Adds one client's output: its update to the aggregate, its metrics
    /// to the sums; keeps its client state.
    ///
    /// # Errors
    /// As [`AggregationRound::accumulate`] and [`UnfinalizedMetrics::merge`].
    pub fn accept(&mut self, out: ClientOutput) -> Result<()> {
        if !self.process.work.is_evaluation() {
            self.aggregation.accumulate(&out.update, out.weight)?;
        }
        self.metrics.merge(&out.metrics)?;
        if let Some(s) = out.client_state {
            self.client_states.push(s);
        }
        Ok(())
    }

    /// Ends the round: aggregate, server update (training), metrics.
    /// Returns the output and the accepted clients' new states (stateful
    /// processes; empty otherwise).
    ///
    /// # Errors
    /// Whatever the aggregator, the finalizer or the metric finalizers report.
    pub async fn finish(self) -> Result<(LearningProcessOutput, Vec<ClientState>)> {
        let p = self.process;
        let old = self.state;
        let aggregate = self.aggregation.finish()?;
        let (weights, finalizer, finalizer_metrics, client_work, client_work_metrics) =
            match &p.server_optimizer {
                Some(config) => {
                    let (weights, finalizer) = (&old.global_model_weights, &old.finalizer);
                    let delta = &aggregate.update;
                    let update = |b: Rc<dyn Backend>| async move {
                        apply_server_update(b.as_ref(), config, weights, finalizer, delta).await
                    };
                    let f = match update(p.backend()).await {
                        Err(Error::DeviceLost { .. }) => update(p.fall_back_to_cpu()).await?,
                        other => other?,
                    };
                    (
                        f.weights,
                        f.state,
                        FinalizerMetrics {
                            update_non_finite: Some(u8::from(f.update_non_finite)),
                        },
                        ClientWorkState::default(),
                        ClientWorkMetrics {
                            train: Some(self.metrics.finalize()?),
                            eval: None,
                        },
                    )
                }
                None => {
                    let mut total = old
                        .client_work
                        .eval
                        .as_ref()
                        .map(|e| e.total_rounds_metrics.clone())
                        .unwrap_or_default();
                    total.merge(&self.metrics)?;
                    let metrics = EvalMetrics {
                        current_round_metrics: self.metrics.finalize()?,
                        total_rounds_metrics: total.finalize()?,
                    };
                    (
                        old.global_model_weights.clone(),
                        FinalizerState {
                            round: old.finalizer.round + 1,
                            server_optimizer: None,
                        },
                        FinalizerMetrics::default(),
                        ClientWorkState {
                            eval: Some(EvalState {
                                current_round_metrics: self.metrics,
                                total_rounds_metrics: total,
                            }),
                        },
                        ClientWorkMetrics {
                            train: None,
                            eval: Some(metrics),
                        },
                    )
                }
            };
        let state = LearningProcessState {
            global_model_weights: weights,
            distributor: Empty {},
            client_work,
            aggregator: aggregate.state,
            finalizer,
        };
        let metrics = RoundMetrics {
            distributor: Empty {},
            client_work: client_work_metrics,
            aggregator: aggregate.measurements,
            finalizer: finalizer_metrics,
        };
        Ok((LearningProcessOutput { state, metrics }, self.client_states))
    }
}
