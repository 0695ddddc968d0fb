//! Metrics in TFF's two-step form.
//!
//! On a client, the engine's metric accumulator (`fedwasm::metrics`) sums per-batch statistics on the
//! backend (no read-back per batch) and finally reports **unfinalized**
//! metrics ([`UnfinalizedMetrics`], TFF's `report_local_unfinalized_metrics`):
//! a name mapped to a short vector of sums. The server sums those vectors
//! elementwise across clients ([`UnfinalizedMetrics::merge`], TFF's
//! `sum_then_finalize`) and then applies each metric's finalizer
//! ([`UnfinalizedMetrics::finalize`], TFF's `metric_finalizers`).
//!
//! | metric | unfinalized | finalized |
//! |---|---|---|
//! | `num_examples` | `[n]` | `n` |
//! | `num_batches` | `[b]` | `b` |
//! | `loss` | `[sum(batch_loss * batch_size), examples]` | mean loss per example |
//! | `sparse_categorical_accuracy` | `[correct, examples]` | fraction correct |
//! | `mean_squared_error` | `[sum of squared errors, elements]` | MSE |
//! | `rating_accuracy` | `[count of abs(y - y_hat) <= 0.5, elements]` | fraction |
//!
//! A ratio with a zero denominator finalizes to 0, like Keras' `div_no_nan`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Float, Result};

/// The metrics fedwasm computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Examples seen.
    NumExamples,
    /// Batches seen.
    NumBatches,
    /// Example-weighted mean of the batch losses.
    Loss,
    /// Fraction of examples whose arg-max prediction equals the label.
    SparseCategoricalAccuracy,
    /// Mean squared error of predictions against real-valued targets.
    MeanSquaredError,
    /// Fraction of predictions within 0.5 of the rating.
    RatingAccuracy,
}

/// The tolerance of [`MetricKind::RatingAccuracy`].
pub const RATING_TOLERANCE: f32 = 0.5;

impl MetricKind {
    /// All kinds, in reporting order.
    pub const ALL: [MetricKind; 6] = [
        MetricKind::NumExamples,
        MetricKind::NumBatches,
        MetricKind::Loss,
        MetricKind::SparseCategoricalAccuracy,
        MetricKind::MeanSquaredError,
        MetricKind::RatingAccuracy,
    ];

    /// The metric's name, as TFF reports it.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::NumExamples => "num_examples",
            MetricKind::NumBatches => "num_batches",
            MetricKind::Loss => "loss",
            MetricKind::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            MetricKind::MeanSquaredError => "mean_squared_error",
            MetricKind::RatingAccuracy => "rating_accuracy",
        }
    }

    /// The kind with this name.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown name.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Error::invalid("MetricKind::from_name", format!("unknown metric {name:?}"))
            })
    }

    /// Length of the unfinalized vector.
    pub fn unfinalized_len(self) -> usize {
        match self {
            MetricKind::NumExamples | MetricKind::NumBatches => 1,
            _ => 2,
        }
    }

    /// The finalizer: the metric's value from its (summed) unfinalized
    /// vector. Total: a missing entry counts as 0 (the lengths are checked
    /// where vectors come from input: [`UnfinalizedMetrics::check`]).
    pub fn finalize(self, v: &[f64]) -> f64 {
        let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
        match self {
            MetricKind::NumExamples | MetricKind::NumBatches => at(0),
            _ if at(1) == 0.0 => 0.0,
            _ => at(0) / at(1),
        }
    }
}

/// Unfinalized metrics of one client or a sum over clients: name -> sums.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnfinalizedMetrics(pub BTreeMap<String, Vec<f64>>);

impl UnfinalizedMetrics {
    /// Sums `other` into `self` elementwise (`sum_then_finalize`'s sum).
    /// An empty `self` takes `other`'s structure.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the two have different metrics or lengths.
    pub fn merge(&mut self, other: &UnfinalizedMetrics) -> Result<()> {
        if self.0.is_empty() {
            self.0 = other.0.clone();
            return Ok(());
        }
        let keys = |m: &UnfinalizedMetrics| {
            m.0.iter()
                .map(|(k, v)| (k.clone(), v.len()))
                .collect::<Vec<_>>()
        };
        if keys(self) != keys(other) {
            return Err(Error::invalid(
                "UnfinalizedMetrics::merge",
                format!("structures differ: {:?} vs {:?}", keys(self), keys(other)),
            ));
        }
        for (k, v) in &mut self.0 {
            for (a, b) in v.iter_mut().zip(&other.0[k]) {
                *a += b;
            }
        }
        Ok(())
    }

    /// Checks metrics that came from input: every name is a known metric
    /// with a vector of its length; every count (`num_examples`,
    /// `num_batches`, a ratio's denominator) is a finite whole number >= 0;
    /// every numerator is >= 0, an infinity or NaN (a diverged client's
    /// loss is reported as TFF reports it).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first bad metric.
    pub fn check(&self, op: &'static str) -> Result<()> {
        for (name, v) in &self.0 {
            let kind = MetricKind::from_name(name)
                .map_err(|_| Error::invalid(op, format!("unknown metric {name:?}")))?;
            if v.len() != kind.unfinalized_len() {
                return Err(Error::invalid(
                    op,
                    format!(
                        "metric {name} has {} values, expected {}",
                        v.len(),
                        kind.unfinalized_len()
                    ),
                ));
            }
            for (i, &x) in v.iter().enumerate() {
                let is_count = kind.unfinalized_len() == 1 || i == 1;
                let ok = if is_count {
                    x.is_finite() && x >= 0.0 && x.fract() == 0.0
                } else {
                    x.is_nan() || x >= 0.0
                };
                if !ok {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "metric {name}[{i}] is {}; {}",
                            Float(x),
                            if is_count {
                                "counts must be whole numbers >= 0"
                            } else {
                                "sums must be >= 0 (or NaN/infinite)"
                            }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Applies each metric's finalizer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown metric name or a wrong-length vector.
    pub fn finalize(&self) -> Result<BTreeMap<String, f64>> {
        let mut out = BTreeMap::new();
        for (name, v) in &self.0 {
            let kind = MetricKind::from_name(name)?;
            if v.len() != kind.unfinalized_len() {
                return Err(Error::invalid(
                    "UnfinalizedMetrics::finalize",
                    format!(
                        "metric {name} has {} values, expected {}",
                        v.len(),
                        kind.unfinalized_len()
                    ),
                ));
            }
            out.insert(name.clone(), kind.finalize(v));
        }
        Ok(out)
    }

    /// One finalized metric, if present.
    pub fn value(&self, kind: MetricKind) -> Option<f64> {
        self.0.get(kind.name()).map(|v| kind.finalize(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_then_finalize_weights_by_examples() {
        let client = |loss_sum: f64, n: f64| {
            UnfinalizedMetrics(BTreeMap::from([
                ("loss".to_string(), vec![loss_sum, n]),
                ("num_examples".to_string(), vec![n]),
            ]))
        };
        let mut total = UnfinalizedMetrics::default();
        total.merge(&client(10.0, 10.0)).unwrap(); // mean 1.0 over 10 examples
        total.merge(&client(30.0, 10.0)).unwrap(); // mean 3.0 over 10 examples
        let f = total.finalize().unwrap();
        assert!((f["loss"] - 2.0).abs() < 1e-12);
        assert_eq!(f["num_examples"], 20.0);
        let mut other = UnfinalizedMetrics::default();
        other.0.insert("loss".into(), vec![1.0]);
        assert!(total.merge(&other).is_err());
    }

    #[test]
    fn empty_ratio_finalizes_to_zero() {
        assert_eq!(MetricKind::Loss.finalize(&[0.0, 0.0]), 0.0);
    }
}
