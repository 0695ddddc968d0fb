//! Metrics on a client: [`MetricAccumulator`] sums per-batch statistics on
//! the backend (no read-back per batch) and reports them as TFF's
//! unfinalized metrics. The metric kinds, the unfinalized form and the
//! finalizers are plain data in [`fedwasm_protocol::metrics`], re-exported
//! here (the table of metrics is there).

use std::collections::BTreeMap;

pub use fedwasm_protocol::metrics::{MetricKind, UnfinalizedMetrics, RATING_TOLERANCE};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

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

    /// The running `loss` numerator (sum of batch mean loss x batch size),
    /// `[1]` on the backend.
    pub fn loss_sum(&self) -> &Tensor {
        &self.sums[&MetricKind::Loss]
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
