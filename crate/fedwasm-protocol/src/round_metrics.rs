//! The metrics a round reports, nested like TFF's.
//!
//! # Layout (JSON)
//! Training (seed 002's printed metrics):
//! ```json
//! {"distributor": {},
//!  "client_work": {"train": {"loss": 2.1, "num_batches": 248.0,
//!                            "num_examples": 4860.0, "sparse_categorical_accuracy": 0.3}},
//!  "aggregator": {"mean_value": {}, "mean_weight": {}},
//!  "finalizer": {"update_non_finite": 0}}
//! ```
//! Evaluation: `"client_work": {"eval": {"current_round_metrics": {..},
//! "total_rounds_metrics": {..}}}` and `"finalizer": {}`. Metric maps are
//! finalized values keyed by metric name ([`crate::metrics::MetricKind::name`]),
//! summed over clients and then finalized (`sum_then_finalize`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::MetricKind;
use crate::state::Empty;

/// Finalized metrics: name -> value.
pub type MetricValues = BTreeMap<String, f64>;

/// Evaluation metrics of the last round and of all rounds so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalMetrics {
    /// This round's clients.
    pub current_round_metrics: MetricValues,
    /// Every round so far.
    pub total_rounds_metrics: MetricValues,
}

/// The client work's metrics: `train` for training, `eval` for evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientWorkMetrics {
    /// Training metrics of this round's clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<MetricValues>,
    /// Evaluation metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<EvalMetrics>,
    /// Training rounds: the clients whose update held a NaN or an infinity
    /// and who sent zeros instead (weight 0 when weighting by examples), as
    /// TFF's client work does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_finite_updates: Option<u64>,
}

/// The finalizer's measurements.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizerMetrics {
    /// 1 when the aggregated update (or the model it would give) was not
    /// finite and was rejected, leaving the model unchanged; else 0.
    /// Absent for evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_non_finite: Option<u8>,
}

/// One round's metrics. See the module docs for the layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundMetrics {
    /// Broadcast measurements (none).
    pub distributor: Empty,
    /// The clients' metrics.
    pub client_work: ClientWorkMetrics,
    /// The model aggregator's measurements.
    pub aggregator: crate::json::Json,
    /// The finalizer's measurements.
    pub finalizer: FinalizerMetrics,
}

impl RoundMetrics {
    /// The metrics as JSON (what serde_json writes for them; a non-finite
    /// metric is `null`), through [`crate::json`].
    ///
    /// # Errors
    /// None in practice; the `Result` is kept for callers.
    pub fn to_json(&self) -> Result<String> {
        Ok(crate::json::to_string(self))
    }

    /// One training metric (`client_work.train.<kind>`).
    pub fn train(&self, kind: MetricKind) -> Option<f64> {
        self.client_work.train.as_ref()?.get(kind.name()).copied()
    }

    /// One evaluation metric of this round (`client_work.eval.current_round_metrics.<kind>`).
    pub fn eval(&self, kind: MetricKind) -> Option<f64> {
        self.client_work
            .eval
            .as_ref()?
            .current_round_metrics
            .get(kind.name())
            .copied()
    }

    /// `finalizer.update_non_finite` (`None` for evaluation).
    pub fn update_non_finite(&self) -> Option<u8> {
        self.finalizer.update_non_finite
    }
}
