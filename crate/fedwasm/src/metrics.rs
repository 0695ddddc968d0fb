//! Metrics in TFF's two-step form.
//!
//! On a client, a [`MetricAccumulator`] sums per-batch statistics on the
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

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

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

    /// The finalizer: the metric's value from its (summed) unfinalized vector.
    pub fn finalize(self, v: &[f64]) -> f64 {
        match self {
            MetricKind::NumExamples | MetricKind::NumBatches => v[0],
            _ if v[1] == 0.0 => 0.0,
            _ => v[0] / v[1],
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

    /// Applies each metric's finalizer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown metric name or a wrong-length vector.
    pub fn finalize(&self) -> Result<BTreeMap<String, f64>> {
        self.0
            .iter()
            .map(|(name, v)| {
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
                Ok((name.clone(), kind.finalize(v)))
            })
            .collect()
    }

    /// One finalized metric, if present.
    pub fn value(&self, kind: MetricKind) -> Option<f64> {
        self.0.get(kind.name()).map(|v| kind.finalize(v))
    }
}

/// Sums batch statistics on a backend; read back once with [`MetricAccumulator::report`].
pub struct MetricAccumulator {
    kinds: Vec<MetricKind>,
    /// Per kind with a backend-side numerator: the running sum, shape `[1]`.
    sums: BTreeMap<MetricKind, Tensor>,
    examples: u64,
    batches: u64,
    /// Elements compared by regression metrics (examples x outputs).
    elements: u64,
    /// The last batch size and its `[1]` tensor, which weights the batch's
    /// mean loss (batches mostly share a size: upload it once).
    loss_weight: Option<(usize, Tensor)>,
}

impl MetricAccumulator {
    /// An accumulator for `kinds` (`num_examples`, `num_batches` and `loss` are always kept).
    ///
    /// # Errors
    /// Whatever the backend reports when allocating.
    pub fn new(b: &dyn Backend, kinds: &[MetricKind]) -> Result<Self> {
        let mut all = vec![
            MetricKind::NumExamples,
            MetricKind::NumBatches,
            MetricKind::Loss,
        ];
        for k in kinds {
            if !all.contains(k) {
                all.push(*k);
            }
        }
        let mut sums = BTreeMap::new();
        for k in &all {
            if !matches!(k, MetricKind::NumExamples | MetricKind::NumBatches) {
                sums.insert(*k, b.zeros(&[1])?);
            }
        }
        Ok(MetricAccumulator {
            kinds: all,
            sums,
            examples: 0,
            batches: 0,
            elements: 0,
            loss_weight: None,
        })
    }

    /// Adds one batch: its mean `loss` (`[1]`), `predictions` and labels `y`.
    ///
    /// # Errors
    /// Shape errors from the backend (e.g. labels out of range).
    pub fn update(
        &mut self,
        b: &dyn Backend,
        loss: &Tensor,
        predictions: &Tensor,
        y: &Tensor,
    ) -> Result<()> {
        let n = y.len();
        self.examples += n as u64;
        self.batches += 1;
        self.elements += predictions.len() as u64;
        for (kind, sum) in &mut self.sums {
            let contribution = match kind {
                MetricKind::Loss => {
                    let weight = match &self.loss_weight {
                        Some((size, w)) if *size == n => w,
                        _ => &self.loss_weight.insert((n, b.upload(&[1], &[n as f32])?)).1,
                    };
                    b.mul(loss, weight)?
                }
                MetricKind::SparseCategoricalAccuracy => b.count_correct(predictions, y)?,
                MetricKind::MeanSquaredError => b.squared_error_sum(predictions, y)?,
                MetricKind::RatingAccuracy => b.count_within(predictions, y, RATING_TOLERANCE)?,
                MetricKind::NumExamples | MetricKind::NumBatches => continue,
            };
            b.add_assign(sum, &contribution)?;
        }
        Ok(())
    }

    /// Examples seen so far.
    pub fn num_examples(&self) -> u64 {
        self.examples
    }

    /// Reads the sums back (once) and reports unfinalized metrics.
    ///
    /// # Errors
    /// Whatever [`Backend::read`] reports.
    pub async fn report(&self, b: &dyn Backend) -> Result<UnfinalizedMetrics> {
        let values = b.read_many(&self.sum_tensors()).await?;
        self.report_from(&values)
    }

    /// The device sums [`MetricAccumulator::report_from`] needs, in order:
    /// read them back together with other tensors to save a read-back.
    pub fn sum_tensors(&self) -> Vec<&Tensor> {
        self.sums.values().collect()
    }

    /// The unfinalized metrics, given the values of
    /// [`MetricAccumulator::sum_tensors`] (in that order).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `values` do not match the sums.
    pub fn report_from(&self, values: &[Vec<f32>]) -> Result<UnfinalizedMetrics> {
        if values.len() != self.sums.len() || values.iter().any(|v| v.len() != 1) {
            return Err(Error::invalid(
                "MetricAccumulator::report_from",
                format!(
                    "expected {} one-element sums, got {} values",
                    self.sums.len(),
                    values.len()
                ),
            ));
        }
        let sum = |kind: &MetricKind| -> f64 {
            self.sums
                .keys()
                .position(|k| k == kind)
                .map_or(0.0, |i| values[i][0] as f64)
        };
        let mut out = BTreeMap::new();
        for kind in &self.kinds {
            let v = match kind {
                MetricKind::NumExamples => vec![self.examples as f64],
                MetricKind::NumBatches => vec![self.batches as f64],
                MetricKind::Loss | MetricKind::SparseCategoricalAccuracy => {
                    vec![sum(kind), self.examples as f64]
                }
                MetricKind::MeanSquaredError | MetricKind::RatingAccuracy => {
                    vec![sum(kind), self.elements as f64]
                }
            };
            out.insert(kind.name().to_string(), v);
        }
        Ok(UnfinalizedMetrics(out))
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
