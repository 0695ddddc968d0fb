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
    pub aggregator: serde_json::Value,
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

    /// Parses a checkpoint written by [`LearningProcessState::to_json`].
    /// Whether it fits a process is checked when the process uses it.
    ///
    /// # Errors
    /// [`Error::Json`] for malformed JSON or unknown fields.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|source| Error::Json {
            what: WHAT.into(),
            source,
        })
    }

    /// The number of rounds run so far.
    pub fn round(&self) -> u64 {
        self.finalizer.round
    }
}
