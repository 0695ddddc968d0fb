//! [`LearningProcess`]: seed 004's `tff.learning.templates.LearningProcess`
//! (`initialize`, `next`, `get_model_weights`, `set_model_weights`), one type
//! for every algorithm; the builders in [`super`] choose its client work,
//! weighting and server optimizer.
//!
//! A round ([`LearningProcess::next`]) runs through the protocol's pieces,
//! the same ones a coordinator or a page with workers uses: the process's
//! [`ProcessSpec`] (what the server knows), a [`ServerRound`]
//! ([`LearningProcess::begin_round`]), one [`ClientTask`] per client
//! ([`ServerRound::task`]), [`client_update`](super::client_update) on
//! this process's backend, [`ServerRound::accept`] of each
//! [`fedwasm_protocol::messages::ClientUpdate`],
//! and [`ServerRound::finish`] (exact aggregation, the server optimizer on
//! the host, metrics). Callers that train clients elsewhere (threads,
//! workers, browsers) use `begin_round`, `task` and `accept` themselves, in
//! any order: the result is the same bits.

use std::cell::RefCell;
use std::rc::Rc;

use super::aggregation::{ClientWeighting, MeanAggregator, ModelAggregator};
use super::client::{client_update_with, ClientState, ClientTask, ClientWork};
use super::control::{RoundControl, RoundOptions};
use super::state::LearningProcessState;
use super::weights::{read_model_weights, ModelWeights};
use crate::backend::{Backend, CpuBackend};
use crate::data::{Dataset, DatasetPlan, ElementSpec};
use crate::error::{Error, Result};
use crate::metrics::MetricKind;
use crate::model::{GraphModel, Model, ModelSpec, VariableInfo};
use crate::optim::OptimizerConfig;
use fedwasm_protocol::exact::MAX_WEIGHT;
use fedwasm_protocol::round_metrics::RoundMetrics;
pub use fedwasm_protocol::server::{ProcessSpec, ServerRound};

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
    /// The backend in use: the one given, until its device is lost; then
    /// the CPU (see [`LearningProcess::next`]).
    backend: RefCell<Rc<dyn Backend>>,
    model_fn: ModelFn,
    spec: ProcessSpec,
    aggregator: Rc<dyn ModelAggregator>,
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
        let mut metrics = vec![
            MetricKind::NumExamples,
            MetricKind::NumBatches,
            MetricKind::Loss,
        ];
        for k in model.metrics() {
            if !metrics.contains(k) {
                metrics.push(*k);
            }
        }
        let spec = ProcessSpec {
            name: parts.name.to_string(),
            work: parts.work,
            weighting: parts.weighting,
            server_optimizer: parts.server_optimizer,
            variables: model.variables().to_vec(),
            metrics,
            seed: parts.seed,
            max_client_weight: MAX_WEIGHT,
        };
        spec.validate()?;
        Ok(LearningProcess {
            input_spec: model.input_spec().clone(),
            backend: RefCell::new(backend),
            model_fn,
            spec,
            aggregator: Rc::new(MeanAggregator),
        })
    }

    /// Replaces the model aggregator (default: [`MeanAggregator`]). States
    /// made with another aggregator are not assignable afterwards.
    pub fn with_model_aggregator(mut self, aggregator: Rc<dyn ModelAggregator>) -> Self {
        self.aggregator = aggregator;
        self
    }

    /// The algorithm's name (`"weighted_fed_avg"`, `"fed_recon"`, ..).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// What the server knows about this process (all a [`ServerRound`]
    /// needs: a coordinator can run rounds from it without any model code).
    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    /// What clients do.
    pub fn client_work(&self) -> &ClientWork {
        &self.spec.work
    }

    /// How clients are weighted.
    pub fn client_weighting(&self) -> ClientWeighting {
        self.spec.weighting
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
        &self.spec.variables
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
        (self.model_fn)(b, self.spec.seed)
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
        let weights = read_model_weights(b, model.as_ref()).await?;
        self.spec.initial_state(weights, self.aggregator.as_ref())
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
        weights.check_structure(OP, &self.spec.variables)?;
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
    /// [`client_seed`](super::client_seed)`(seed, round, i)`.
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
        if matches!(self.spec.work, ClientWork::Stateful { .. }) {
            return Err(Error::invalid(
                "LearningProcess::next",
                "stateful clients need their states: use StatefulProcess::next",
            ));
        }
        Ok(self.run_round(state, clients, None, opts).await?.0)
    }

    /// The round engine shared with [`super::StatefulProcess`]: tasks,
    /// [`client_update_with`] per client on this process's backend (under
    /// the round's controls), and the [`ServerRound`]. Returns the clients'
    /// new states (stateful work).
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
        let mut new_states = Vec::new();
        for (i, data) in clients.iter().enumerate() {
            if i > 0 {
                control.pacing.yield_to_host().await;
            }
            control.pacing.check(OP)?;
            let cs = client_states.map(|s| &s[i]);
            let key = cs.map_or(i as u64, |s| s.index);
            // The datasets are built by the caller: the task's plan is empty.
            let task: ClientTask = round.task(key, DatasetPlan::new());
            let pacing = control.pacing.clone();
            let mut reporter = control.client(i);
            let mut on_batch = |p| reporter.batch(p);
            let controls = pacing.controls(&mut on_batch);
            let out =
                match client_update_with(b.as_ref(), model.as_mut(), &task, data, cs, controls)
                    .await
                {
                    // The GPU is gone mid-round: this client's work (whatever
                    // part ran) is redone on the CPU, and so is the rest.
                    Err(Error::DeviceLost { .. }) => {
                        b = self.fall_back_to_cpu();
                        model = self.new_model()?;
                        let controls = pacing.controls(&mut on_batch);
                        client_update_with(b.as_ref(), model.as_mut(), &task, data, cs, controls)
                            .await?
                    }
                    other => other?,
                };
            let last = reporter.last();
            control.finished(i, last, &out.update.metrics);
            round.accept(&out.update)?;
            new_states.extend(out.client_state);
        }
        control.pacing.check(OP)?;
        let (state, metrics) = round.finish()?;
        Ok((LearningProcessOutput { state, metrics }, new_states))
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
        self.spec.check_state(op, state)
    }

    /// Starts a round from `state` (checked): the way to drive clients
    /// yourself (in threads, in workers, across the network). Give each
    /// client [`ServerRound::task`], run
    /// [`client_update`](super::client_update) wherever it lives, and
    /// [`ServerRound::accept`] the updates in any order.
    ///
    /// # Errors
    /// [`Error::StateNotAssignable`] when `state` is not this process's.
    pub fn begin_round(&self, state: &LearningProcessState) -> Result<ServerRound> {
        ServerRound::with_aggregator(&self.spec, state, self.aggregator.as_ref()).map_err(|e| {
            match e {
                Error::StateNotAssignable { detail, .. } => Error::StateNotAssignable {
                    op: "LearningProcess::next",
                    detail,
                },
                other => other,
            }
        })
    }
}
