//! The server state of a learning process, composed like TFF's
//! `LearningAlgorithmState`, and its JSON checkpoints.
//!
//! # Layout (JSON)
//! ```json
//! {"global_model_weights": {"trainable": [..], "non_trainable": [..]},
//!  "distributor": {},
//!  "client_work": {},
//!  "aggregator": {"value_sum_process": {}, "weight_sum_process": {}},
//!  "finalizer": {"round": 3, "server_optimizer": {"optimizer": "sgd", ..}}}
//! ```
//! * `global_model_weights`: [`ModelWeights`] (named row-major `f32` tensors);
//! * `distributor`: empty (broadcast has no state);
//! * `client_work`: empty for training; for evaluation processes
//!   `{"eval": {"current_round_metrics": {..}, "total_rounds_metrics": {..}}}`,
//!   unfinalized metric sums ([`UnfinalizedMetrics`]);
//! * `aggregator`: the [`crate::aggregation::ModelAggregator`]'s own JSON state;
//! * `finalizer`: the number of rounds run so far and, for training, the
//!   server optimizer's [`OptimizerState`] (slots as `f32`).
//!
//! Every float is printed in shortest round-trip form, so a state read back
//! from its JSON is equal bit for bit, and the process continues from it
//! exactly as an uninterrupted run would.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metrics::UnfinalizedMetrics;
use crate::model_weights::ModelWeights;
use crate::optim::OptimizerState;

/// A component without state or measurements: `{}` in JSON (TFF's `()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Evaluation state: unfinalized metric sums of the last round and of all
/// rounds so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalState {
    /// The last round's sums.
    pub current_round_metrics: UnfinalizedMetrics,
    /// The sums over every round so far.
    pub total_rounds_metrics: UnfinalizedMetrics,
}

/// The client work's state: empty for training, [`EvalState`] for evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientWorkState {
    /// Evaluation processes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<EvalState>,
}

/// The finalizer's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizerState {
    /// Rounds run so far (the next round's 0-based index). It indexes
    /// learning-rate schedules and seeds per-round randomness.
    pub round: u64,
    /// The server optimizer's state; `None` for evaluation processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_optimizer: Option<OptimizerState>,
}

/// A learning process's server state. See the module docs for the layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearningProcessState {
    /// The global model.
    pub global_model_weights: ModelWeights,
    /// The broadcast step's state (none).
    pub distributor: Empty,
    /// The client work's state.
    pub client_work: ClientWorkState,
    /// The model aggregator's state.
    pub aggregator: crate::json::Json,
    /// The finalizer's state.
    pub finalizer: FinalizerState,
}

const WHAT: &str = "learning process state";

impl LearningProcessState {
    /// The state as a JSON checkpoint.
    ///
    /// # Errors
    /// [`Error::NonFinite`] if a weight or optimizer slot is NaN or infinite
    /// (JSON cannot carry them; a process never produces such a state).
    pub fn to_json(&self) -> Result<String> {
        if !self.global_model_weights.is_finite() {
            return Err(Error::NonFinite {
                op: "LearningProcessState::to_json",
                detail: "the global model weights hold NaN or an infinity".into(),
            });
        }
        if let Some(opt) = &self.finalizer.server_optimizer {
            // Checks the slots for non-finite values.
            opt.to_json()?;
        }
        serde_json::to_string(self).map_err(|source| Error::Json {
            what: WHAT.into(),
            source,
        })
    }

    /// Parses a checkpoint written by [`LearningProcessState::to_json`] and
    /// checks what can be checked without the process: every size within
    /// the limits and every tensor's data fitting its shape, the server
    /// optimizer's slots likewise, and the evaluation metrics' structure
    /// (known names, vectors of the right length). Whether it fits a
    /// process is checked when the process uses it.
    ///
    /// # Errors
    /// [`Error::Limit`] for a text over `max_message_bytes` or sizes over
    /// the tensor and parameter limits (naming the variable);
    /// [`Error::Json`] for malformed JSON or unknown fields;
    /// [`Error::Data`] for data that does not fit its shape or malformed
    /// evaluation metrics.
    pub fn from_json(json: &str) -> Result<Self> {
        const OP: &str = "LearningProcessState::from_json";
        crate::limits::Limits::current().check_bytes(OP, "a checkpoint", json.len())?;
        let state: Self = serde_json::from_str(json).map_err(|source| Error::Json {
            what: WHAT.into(),
            source,
        })?;
        let weights = &state.global_model_weights;
        let mut parameters = 0u64;
        for (list, vars) in [
            ("trainable", &weights.trainable),
            ("non_trainable", &weights.non_trainable),
        ] {
            for v in vars {
                let at = |e: Error| {
                    e.in_context(format_args!(
                        "global_model_weights.{list} variable {:?}",
                        v.name
                    ))
                };
                let n = crate::limits::tensor_elements(OP, &v.shape).map_err(at)?;
                if n != v.data.len() {
                    return Err(Error::data(
                        WHAT,
                        format!("global_model_weights.{list} variable {:?}", v.name),
                        "data",
                        format!("{} values for shape {:?}", v.data.len(), v.shape),
                    ));
                }
                parameters += n as u64;
                crate::limits::Limits::current()
                    .check(
                        OP,
                        crate::limits::LimitField::ModelParameters,
                        "parameters of the global model",
                        parameters,
                    )
                    .map_err(at)?;
            }
        }
        if let Some(opt) = &state.finalizer.server_optimizer {
            opt.check_sizes(OP)?;
        }
        if let Some(eval) = &state.client_work.eval {
            for (field, m) in [
                ("current_round_metrics", &eval.current_round_metrics),
                ("total_rounds_metrics", &eval.total_rounds_metrics),
            ] {
                m.check(OP)
                    .map_err(|e| Error::data(WHAT, "client_work.eval", field, e.to_string()))?;
            }
        }
        Ok(state)
    }

    /// The number of rounds run so far.
    pub fn round(&self) -> u64 {
        self.finalizer.round
    }
}
