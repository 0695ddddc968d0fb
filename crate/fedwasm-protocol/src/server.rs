//! The server side of a round: [`ProcessSpec`] (what a learning process is,
//! as data) and [`ServerRound`] (one round: tasks out, updates in, the new
//! state). No model, backend or training code: a coordinator in Node, a
//! page aggregating its workers, and the engine's own
//! `LearningProcess::next` all run rounds through this one type.
//!
//! A round:
//! 1. [`ServerRound::new`] checks the state against the spec;
//! 2. [`ServerRound::task`] gives each client its [`ClientTask`];
//! 3. [`ServerRound::accept`] validates an update completely before it
//!    changes anything (round id, fingerprint, names and shapes, finite
//!    values, weight, metric schema, duplicate client key) and refuses a
//!    bad one with [`Error::Refused`] and a reason; the round goes on;
//! 4. [`ServerRound::finish`] aggregates (exactly: the result is the same
//!    bits for any order of arrival), applies the server optimizer on the
//!    host and finalizes the metrics.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aggregation::{AggregationRound, ClientWeighting, MeanAggregator, ModelAggregator};
use crate::error::{Error, Float, Result};
use crate::exact::{Exponents, F64Sum, MAX_WEIGHT};
use crate::finalizer::apply_server_update;
use crate::messages::{model_fingerprint, ClientTask, ClientUpdate};
use crate::metrics::{MetricKind, UnfinalizedMetrics};
use crate::model_weights::ModelWeights;
use crate::optim::{OptimizerConfig, ServerOptimizer};
use crate::plan::DatasetPlan;
use crate::rng::Rng;
use crate::round_metrics::{ClientWorkMetrics, EvalMetrics, FinalizerMetrics, RoundMetrics};
use crate::state::{ClientWorkState, Empty, EvalState, FinalizerState, LearningProcessState};
use crate::variables::{VariableGroup, VariableInfo};
use crate::work::ClientWork;

/// The seed of client `client` in round `round` of a process seeded `seed`.
pub fn client_seed(seed: u64, round: u64, client: u64) -> u64 {
    Rng::derive(Rng::derive(seed, round).next_u64(), client).next_u64()
}

/// Everything the server knows about a learning process (TFF's
/// `LearningProcess` minus the model code), as data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// The algorithm (`"weighted_fed_avg"`, `"fed_recon"`, ..).
    pub name: String,
    /// What clients do.
    pub work: ClientWork,
    /// How clients are weighted.
    pub weighting: ClientWeighting,
    /// The server optimizer; `None` for evaluation.
    pub server_optimizer: Option<OptimizerConfig>,
    /// The model's variables, all four groups, in model order.
    pub variables: Vec<VariableInfo>,
    /// The metrics every client reports (the schema of an update's metrics).
    pub metrics: Vec<MetricKind>,
    /// Seeds the clients' randomness ([`client_seed`]).
    pub seed: u64,
    /// The largest weight an update may carry (default and cap: 2^32).
    #[serde(default = "default_max_weight")]
    pub max_client_weight: u64,
}

fn default_max_weight() -> u64 {
    MAX_WEIGHT
}

impl ProcessSpec {
    /// Checks the configuration: the work, the optimizers, the metric list
    /// (`num_examples`, `num_batches` and `loss` are always reported) and
    /// the weight bound.
    ///
    /// # Errors
    /// [`Error::Optimizer`] or [`Error::InvalidArgument`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        const OP: &str = "ProcessSpec::validate";
        self.work.validate()?;
        if let Some(c) = &self.server_optimizer {
            c.validate()?;
        }
        if self.work.is_evaluation() != self.server_optimizer.is_none() {
            return Err(Error::invalid(
                OP,
                "a training process needs a server optimizer and an evaluation process none",
            ));
        }
        for k in [
            MetricKind::NumExamples,
            MetricKind::NumBatches,
            MetricKind::Loss,
        ] {
            if !self.metrics.contains(&k) {
                return Err(Error::invalid(
                    OP,
                    format!("the metrics must include {}", k.name()),
                ));
            }
        }
        if self.max_client_weight > MAX_WEIGHT {
            return Err(Error::invalid(
                OP,
                format!("max_client_weight {} is over 2^32", self.max_client_weight),
            ));
        }
        Ok(())
    }

    /// [`model_fingerprint`] of the variables.
    pub fn fingerprint(&self) -> u64 {
        model_fingerprint(&self.variables)
    }

    /// The names and shapes of the global trainable variables, in order.
    pub fn trainable(&self) -> Vec<(&str, &[usize])> {
        self.variables
            .iter()
            .filter(|v| v.group == VariableGroup::GlobalTrainable)
            .map(|v| (v.name.as_str(), v.shape.as_slice()))
            .collect()
    }

    /// The state before the first round, from the model's initial global
    /// weights.
    ///
    /// # Errors
    /// [`Error::WeightsStructure`] when `weights` do not fit the variables.
    pub fn initial_state(
        &self,
        weights: ModelWeights,
        aggregator: &dyn ModelAggregator,
    ) -> Result<LearningProcessState> {
        weights.check_structure("ProcessSpec::initial_state", &self.variables)?;
        let server_optimizer = match &self.server_optimizer {
            None => None,
            Some(c) => Some(ServerOptimizer::new(c.clone(), &weights.trainable_shapes())?.state()),
        };
        Ok(LearningProcessState {
            global_model_weights: weights,
            distributor: Empty {},
            client_work: ClientWorkState {
                eval: self.work.is_evaluation().then(EvalState::default),
            },
            aggregator: aggregator.initialize(),
            finalizer: FinalizerState {
                round: 0,
                server_optimizer,
            },
        })
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
        let kind = |eval: bool| if eval { "an evaluation" } else { "a training" };
        let is_eval = self.work.is_evaluation();
        if state.client_work.eval.is_some() != is_eval {
            return Err(fail(format!(
                "client_work is {} state but {} is {}",
                kind(state.client_work.eval.is_some()),
                self.name,
                kind(is_eval)
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
}

/// One round in progress (see the module docs). Owns everything it needs.
pub struct ServerRound {
    spec: ProcessSpec,
    state: LearningProcessState,
    fingerprint: u64,
    aggregation: Box<dyn AggregationRound>,
    /// Exact metric sums, by name, in the spec's schema.
    metric_sums: BTreeMap<String, Vec<MetricSum>>,
    seen: BTreeSet<u64>,
    non_finite: u64,
}

impl std::fmt::Debug for ServerRound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRound")
            .field("process", &self.spec.name)
            .field("round_id", &self.round_id())
            .field("accepted", &self.seen.len())
            .finish()
    }
}

impl ServerRound {
    /// Starts a round of `spec` from `state` with the mean aggregator.
    ///
    /// # Errors
    /// As [`ServerRound::with_aggregator`].
    pub fn new(spec: &ProcessSpec, state: &LearningProcessState) -> Result<Self> {
        Self::with_aggregator(spec, state, &MeanAggregator)
    }

    /// Starts a round of `spec` from `state` with `aggregator`.
    ///
    /// # Errors
    /// The spec's validation errors; [`Error::StateNotAssignable`] when
    /// `state` is not this process's (or not `aggregator`'s).
    pub fn with_aggregator(
        spec: &ProcessSpec,
        state: &LearningProcessState,
        aggregator: &dyn ModelAggregator,
    ) -> Result<Self> {
        const OP: &str = "ServerRound::new";
        spec.validate()?;
        spec.check_state(OP, state)?;
        let shapes = if spec.work.is_evaluation() {
            Vec::new()
        } else {
            state.global_model_weights.trainable_shapes()
        };
        // Inserted one by one: a collected BTreeMap sorts, and its sort is
        // more code than the aggregator's wasm wants for a handful of keys.
        let mut metric_sums = BTreeMap::new();
        for k in &spec.metrics {
            metric_sums.insert(
                k.name().to_string(),
                vec![MetricSum::default(); k.unfinalized_len()],
            );
        }
        Ok(ServerRound {
            fingerprint: spec.fingerprint(),
            aggregation: aggregator.start(&state.aggregator, &shapes)?,
            spec: spec.clone(),
            state: state.clone(),
            metric_sums,
            seen: BTreeSet::new(),
            non_finite: 0,
        })
    }

    /// The round's id: the state's round index.
    pub fn round_id(&self) -> u64 {
        self.state.finalizer.round
    }

    /// The process's spec.
    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    /// The number of updates accepted so far.
    pub fn accepted(&self) -> usize {
        self.seen.len()
    }

    /// The task of the client with key `client_key`, building its batches
    /// by `plan`.
    pub fn task(&self, client_key: u64, plan: DatasetPlan) -> ClientTask {
        let round = self.round_id();
        ClientTask {
            round_id: round,
            model_fingerprint: self.fingerprint,
            client_key,
            seed: client_seed(self.spec.seed, round, client_key),
            work: self.spec.work.clone(),
            weighting: self.spec.weighting,
            global: self.state.global_model_weights.clone(),
            plan,
        }
    }

    /// Validates `update` completely, then adds it: its update to the
    /// aggregate, its metrics to the sums.
    ///
    /// # Errors
    /// [`Error::Refused`] with a reason (`round_id`, `fingerprint`,
    /// `duplicate`, `structure`, `non_finite`, `weight`, `metrics`) and
    /// nothing changed.
    pub fn accept(&mut self, update: &ClientUpdate) -> Result<()> {
        self.accept_bounded(update, None)
    }

    /// [`ServerRound::accept`], also refusing (reason `norm`) an update
    /// whose tensors' L2 norm (in `f64`, over every tensor in order) is over
    /// `max_norm`, after the round's own checks. The norm is taken in the
    /// validation's pass over the values.
    ///
    /// # Errors
    /// As [`ServerRound::accept`], and the `norm` refusal.
    pub fn accept_bounded(&mut self, update: &ClientUpdate, max_norm: Option<f64>) -> Result<()> {
        let (weight, exponents) = self.admit(update, max_norm)?;
        if !self.spec.work.is_evaluation() {
            let values: Vec<&[f32]> = update.update.iter().map(|t| t.data.as_slice()).collect();
            self.aggregation
                .accumulate_scanned(&values, &exponents, weight as f64)
                .map_err(|e| self.refuse(update, "structure", e.to_string()))?;
        }
        for (name, sums) in &mut self.metric_sums {
            for (s, &x) in sums.iter_mut().zip(&update.metrics.0[name]) {
                s.add(x);
            }
        }
        self.non_finite += u64::from(update.non_finite);
        self.seen.insert(update.client_key);
        Ok(())
    }

    /// Every check of [`ServerRound::accept`], without adding anything: a
    /// caller with checks of its own (a norm bound) runs them after these,
    /// so that an update is refused for the protocol's reason first.
    ///
    /// # Errors
    /// As [`ServerRound::accept`].
    pub fn check(&self, update: &ClientUpdate) -> Result<()> {
        self.check_bounded(update, None)
    }

    /// Every check of [`ServerRound::accept_bounded`], the norm bound's too,
    /// without adding anything.
    ///
    /// # Errors
    /// As [`ServerRound::accept_bounded`].
    pub fn check_bounded(&self, update: &ClientUpdate, max_norm: Option<f64>) -> Result<()> {
        self.admit(update, max_norm).map(drop)
    }

    /// The checks of [`ServerRound::accept_bounded`]: the round's, then the
    /// norm bound's. Returns the weight and each tensor's exponents.
    fn admit(&self, update: &ClientUpdate, max_norm: Option<f64>) -> Result<(u64, Vec<Exponents>)> {
        let (weight, exponents, norm) = self.validate(update, max_norm.is_some())?;
        if let Some(bound) = max_norm {
            if norm > bound {
                return Err(self.refuse(
                    update,
                    "norm",
                    format!(
                        "its L2 norm {} is over the bound {}",
                        Float(norm),
                        Float(bound)
                    ),
                ));
            }
        }
        Ok((weight, exponents))
    }

    /// An [`Error::Refused`] of `update` by this round, with `reason`.
    pub fn refuse(&self, update: &ClientUpdate, reason: &'static str, detail: String) -> Error {
        Error::Refused {
            op: "ServerRound::accept",
            what: format!(
                "update of client {} for round {}",
                update.client_key,
                self.round_id()
            ),
            reason,
            detail,
        }
    }

    /// Every check of [`ServerRound::accept`]; returns the weight, the
    /// exponents of each tensor and, with `norm`, the tensors' L2 norm (else
    /// 0).
    fn validate(&self, u: &ClientUpdate, norm: bool) -> Result<(u64, Vec<Exponents>, f64)> {
        let refuse = |reason, detail: String| Err(self.refuse(u, reason, detail));
        if u.round_id != self.round_id() {
            return refuse(
                "round_id",
                format!(
                    "it answers round {}; this is round {}",
                    u.round_id,
                    self.round_id()
                ),
            );
        }
        if u.model_fingerprint != self.fingerprint {
            return refuse(
                "fingerprint",
                format!(
                    "model fingerprint {:016x}; the process's model is {:016x}",
                    u.model_fingerprint, self.fingerprint
                ),
            );
        }
        if self.seen.contains(&u.client_key) {
            return refuse(
                "duplicate",
                "this client already sent an update this round".into(),
            );
        }
        // Names and shapes.
        let want: Vec<(&str, &[usize])> = if self.spec.work.is_evaluation() {
            Vec::new()
        } else {
            self.spec.trainable()
        };
        let got: Vec<(&str, &[usize])> = u
            .update
            .iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice()))
            .collect();
        if want != got {
            return refuse(
                "structure",
                format!("update tensors {got:?}; the round needs {want:?}"),
            );
        }
        let mut exponents = Vec::with_capacity(u.update.len());
        let mut squares = 0.0;
        for t in &u.update {
            let n: Option<usize> = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if n != Some(t.data.len()) {
                return refuse(
                    "structure",
                    format!(
                        "tensor {:?} of shape {:?} has {} values",
                        t.name,
                        t.shape,
                        t.data.len()
                    ),
                );
            }
            // One pass: finiteness, the exponents the sums use, the norm.
            let e;
            (e, squares) = if norm {
                Exponents::scan::<true>(&t.data, squares)
            } else {
                Exponents::scan::<false>(&t.data, squares)
            };
            exponents.push(e);
            if !e.all_finite() {
                let i = t.data.iter().position(|x| !x.is_finite()).unwrap_or(0);
                return refuse(
                    "non_finite",
                    format!(
                        "tensor {:?} holds {} at index {i} (a client zeroes a non-finite update and says so)",
                        t.name,
                        Float(t.data[i])
                    ),
                );
            }
        }
        if u.non_finite && !exponents.iter().all(Exponents::all_zero) {
            return refuse(
                "non_finite",
                "an update marked non-finite must be all zeros".into(),
            );
        }
        // Metrics: exactly the schema.
        if let Err(e) = u.metrics.check("ServerRound::accept") {
            return refuse("metrics", e.to_string());
        }
        let names: Vec<&str> = u.metrics.0.keys().map(String::as_str).collect();
        let schema: Vec<&str> = self.metric_sums.keys().map(String::as_str).collect();
        if names != schema {
            return refuse(
                "metrics",
                format!("metrics {names:?}; the round's schema is {schema:?}"),
            );
        }
        // Weight: whole, bounded, and what the weighting says.
        let w = u.weight;
        if !(w.is_finite() && w >= 0.0 && w.fract() == 0.0)
            || w > self.spec.max_client_weight as f64
        {
            return refuse(
                "weight",
                format!(
                    "weight {}; it must be a whole number in 0..={}",
                    Float(w),
                    self.spec.max_client_weight
                ),
            );
        }
        if !self.spec.work.is_evaluation() {
            let examples = u.metrics.value(MetricKind::NumExamples).unwrap_or(0.0);
            let expected = match (self.spec.weighting, u.non_finite) {
                (ClientWeighting::NumExamples, true) => 0.0,
                (ClientWeighting::NumExamples, false) => examples,
                (ClientWeighting::Uniform, _) => 1.0,
            };
            if w != expected {
                return refuse(
                    "weight",
                    format!(
                        "weight {} under {:?} weighting with {} examples{}; expected {}",
                        Float(w),
                        self.spec.weighting,
                        Float(examples),
                        if u.non_finite {
                            " and a zeroed update"
                        } else {
                            ""
                        },
                        Float(expected)
                    ),
                );
            }
        }
        Ok((w as u64, exponents, squares.sqrt()))
    }

    /// Ends the round: aggregate, server update (training), metrics.
    ///
    /// # Errors
    /// Whatever the aggregator or the finalizer report.
    pub fn finish(self) -> Result<(LearningProcessState, RoundMetrics)> {
        let old = &self.state;
        let mut sums = UnfinalizedMetrics::default();
        for (k, v) in &self.metric_sums {
            sums.0
                .insert(k.clone(), v.iter().map(MetricSum::value).collect());
        }
        let aggregate = self.aggregation.finish()?;
        let (weights, finalizer, finalizer_metrics, client_work, client_work_metrics) =
            match &self.spec.server_optimizer {
                Some(config) => {
                    let f = apply_server_update(
                        config,
                        &old.global_model_weights,
                        &old.finalizer,
                        &aggregate.update,
                    )?;
                    (
                        f.weights,
                        f.state,
                        FinalizerMetrics {
                            update_non_finite: Some(u8::from(f.update_non_finite)),
                        },
                        ClientWorkState::default(),
                        ClientWorkMetrics {
                            train: Some(sums.finalize()?),
                            eval: None,
                            non_finite_updates: Some(self.non_finite),
                        },
                    )
                }
                None => {
                    let old_total = old
                        .client_work
                        .eval
                        .as_ref()
                        .map(|e| e.total_rounds_metrics.clone())
                        .unwrap_or_default();
                    let total = exact_total(&old_total, &sums)?;
                    let metrics = EvalMetrics {
                        current_round_metrics: sums.finalize()?,
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
                                current_round_metrics: sums,
                                total_rounds_metrics: total,
                            }),
                        },
                        ClientWorkMetrics {
                            train: None,
                            eval: Some(metrics),
                            non_finite_updates: None,
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
        Ok((state, metrics))
    }
}

/// One metric value summed over clients: exactly over the finite values;
/// an infinity or NaN (a diverged client's loss) makes the sum what IEEE
/// addition gives (`inf`, `-inf` or NaN), whatever the order.
#[derive(Clone, Debug, Default)]
struct MetricSum {
    finite: F64Sum,
    pos_inf: bool,
    neg_inf: bool,
    nan: bool,
}

impl MetricSum {
    fn add(&mut self, x: f64) {
        if x.is_nan() {
            self.nan = true;
        } else if x == f64::INFINITY {
            self.pos_inf = true;
        } else if x == f64::NEG_INFINITY {
            self.neg_inf = true;
        } else {
            self.finite.add(x);
        }
    }

    fn value(&self) -> f64 {
        match (
            self.nan || (self.pos_inf && self.neg_inf),
            self.pos_inf,
            self.neg_inf,
        ) {
            (true, _, _) => f64::NAN,
            (false, true, _) => f64::INFINITY,
            (false, false, true) => f64::NEG_INFINITY,
            _ => self.finite.value(),
        }
    }
}

/// `old + round`, summed exactly (an empty `old` takes `round`'s structure).
fn exact_total(old: &UnfinalizedMetrics, round: &UnfinalizedMetrics) -> Result<UnfinalizedMetrics> {
    if old.0.is_empty() {
        return Ok(round.clone());
    }
    let mut merged = old.clone();
    merged.merge(round)?; // checks the structure
    for (k, v) in &mut merged.0 {
        for (i, x) in v.iter_mut().enumerate() {
            let mut s = MetricSum::default();
            s.add(old.0[k][i]);
            s.add(round.0[k][i]);
            *x = s.value();
        }
    }
    Ok(merged)
}
