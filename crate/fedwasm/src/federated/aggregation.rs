//! Aggregating client model updates on the server.
//!
//! # Data layout
//! A client update is one row-major `f32` vector per global trainable
//! variable (`client weights - broadcast weights`, in model order), plus a
//! weight ([`ClientWeighting`]). [`WeightedMean`] keeps one `f64` running sum
//! per variable element and the running total weight, **on the host**: memory
//! is O(model size) whatever the number of clients, and for a fixed order of
//! clients the result is the same bit for bit on every target (`f64`
//! arithmetic is IEEE on native and wasm32; the sum is sequential). The mean
//! is `sum / total_weight`, or zero when the total weight is zero (TFF's
//! `divide_no_nan`).
//!
//! NaN or infinite updates are *not* filtered here. [`super::client_update`]
//! already zeroes a non-finite client update (weight 0 when weighting by
//! examples), as TFF's client work does; an update that is still
//! non-finite (a custom client, or an overflowing sum) makes the mean
//! non-finite, and the server finalizer ([`crate::federated::finalizer`])
//! then rejects the whole round's update, as TFF's apply-optimizer
//! finalizer does.
//!
//! [`ModelAggregator`] is the pluggable interface (TFF's model aggregator
//! factories); [`MeanAggregator`] (TFF's `MeanFactory`) is the default.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::tensor::numel;

/// How much each client counts in the mean (TFF's `ClientWeighting`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientWeighting {
    /// By the number of examples the client trained on (all epochs).
    #[default]
    NumExamples,
    /// Every client counts 1.
    Uniform,
}

impl ClientWeighting {
    /// The weight of a client that processed `num_examples` examples.
    pub fn weight(self, num_examples: f64) -> f64 {
        match self {
            ClientWeighting::NumExamples => num_examples,
            ClientWeighting::Uniform => 1.0,
        }
    }
}

/// A streaming weighted mean of client updates (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedMean {
    shapes: Vec<Vec<usize>>,
    sums: Vec<Vec<f64>>,
    total_weight: f64,
    clients: usize,
}

impl WeightedMean {
    /// An empty mean over variables of `shapes`.
    pub fn new(shapes: &[Vec<usize>]) -> Self {
        WeightedMean {
            shapes: shapes.to_vec(),
            sums: shapes.iter().map(|s| vec![0.0; numel(s)]).collect(),
            total_weight: 0.0,
            clients: 0,
        }
    }

    /// Adds one client's `update` with `weight`: `sum += weight * update`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the update has the wrong number of variables or
    /// lengths; [`Error::InvalidArgument`] for a negative or non-finite weight.
    /// Nothing is added then.
    pub fn add(&mut self, update: &[Vec<f32>], weight: f64) -> Result<()> {
        const OP: &str = "WeightedMean::add";
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::invalid(
                OP,
                format!("client weight must be finite and >= 0, got {weight}"),
            ));
        }
        let lens = |v: &mut dyn Iterator<Item = usize>| v.collect::<Vec<_>>();
        let want = lens(&mut self.sums.iter().map(Vec::len));
        let got = lens(&mut update.iter().map(Vec::len));
        if want != got {
            return Err(Error::shape(
                OP,
                format!("variables of {want:?} elements"),
                format!("{got:?}"),
            ));
        }
        for (sum, u) in self.sums.iter_mut().zip(update) {
            for (s, &x) in sum.iter_mut().zip(u) {
                *s += weight * x as f64;
            }
        }
        self.total_weight += weight;
        self.clients += 1;
        Ok(())
    }

    /// The total weight so far.
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// The number of clients added so far.
    pub fn num_clients(&self) -> usize {
        self.clients
    }

    /// The variable shapes.
    pub fn shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }

    /// The weighted mean, one `f64` vector per variable (zeros when the
    /// total weight is zero).
    pub fn mean(&self) -> Vec<Vec<f64>> {
        let w = self.total_weight;
        self.sums
            .iter()
            .map(|s| {
                s.iter()
                    .map(|&x| if w == 0.0 { 0.0 } else { x / w })
                    .collect()
            })
            .collect()
    }
}

/// What one round of aggregation produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// The aggregated update, one `f64` vector per variable.
    pub update: Vec<Vec<f64>>,
    /// The aggregator's state for the next round.
    pub state: Value,
    /// Reported under `aggregator` in the round's metrics.
    pub measurements: Value,
}

/// One round's aggregation in progress: takes client outputs in order.
pub trait AggregationRound {
    /// Adds one client's update and weight.
    ///
    /// # Errors
    /// An update of the wrong structure or an invalid weight.
    fn accumulate(&mut self, update: &[Vec<f32>], weight: f64) -> Result<()>;
    /// Ends the round.
    ///
    /// # Errors
    /// Implementation-defined.
    fn finish(self: Box<Self>) -> Result<Aggregate>;
}

/// A model aggregator (TFF's model aggregation factories): a possibly
/// stateful way of combining client updates. Its state is JSON so it
/// travels in the process state and its checkpoints.
pub trait ModelAggregator {
    /// The aggregator's name, for messages.
    fn name(&self) -> &str;
    /// The state before the first round.
    fn initialize(&self) -> Value;
    /// Starts a round over variables of `shapes` from `state`.
    ///
    /// # Errors
    /// [`Error::StateNotAssignable`] when `state` is not this aggregator's.
    fn start(&self, state: &Value, shapes: &[Vec<usize>]) -> Result<Box<dyn AggregationRound>>;
}

/// The weighted mean (TFF's `MeanFactory`): stateless (state
/// `{"value_sum_process": {}, "weight_sum_process": {}}`), measurements
/// `{"mean_value": {}, "mean_weight": {}}`. Whether the mean is weighted by
/// examples or uniform is the client weighting's business.
#[derive(Clone, Copy, Debug, Default)]
pub struct MeanAggregator;

impl MeanAggregator {
    fn state() -> Value {
        json!({"value_sum_process": {}, "weight_sum_process": {}})
    }
}

struct MeanRound(WeightedMean);

impl AggregationRound for MeanRound {
    fn accumulate(&mut self, update: &[Vec<f32>], weight: f64) -> Result<()> {
        self.0.add(update, weight)
    }

    fn finish(self: Box<Self>) -> Result<Aggregate> {
        Ok(Aggregate {
            update: self.0.mean(),
            state: MeanAggregator::state(),
            measurements: json!({"mean_value": {}, "mean_weight": {}}),
        })
    }
}

impl ModelAggregator for MeanAggregator {
    fn name(&self) -> &str {
        "mean"
    }

    fn initialize(&self) -> Value {
        Self::state()
    }

    fn start(&self, state: &Value, shapes: &[Vec<usize>]) -> Result<Box<dyn AggregationRound>> {
        if *state != Self::state() {
            return Err(Error::StateNotAssignable {
                op: "MeanAggregator::start",
                detail: format!(
                    "aggregator state {state} is not the mean aggregator's {}",
                    Self::state()
                ),
            });
        }
        Ok(Box::new(MeanRound(WeightedMean::new(shapes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_weight_gives_zero_and_bad_input_is_refused() {
        let mut m = WeightedMean::new(&[vec![2]]);
        assert_eq!(m.mean(), vec![vec![0.0, 0.0]]);
        assert!(m.add(&[vec![1.0]], 1.0).is_err());
        assert!(m.add(&[vec![1.0, 2.0]], -1.0).is_err());
        assert!(m.add(&[vec![1.0, 2.0]], f64::NAN).is_err());
        assert_eq!(m.num_clients(), 0);
        m.add(&[vec![1.0, 2.0]], 0.0).unwrap();
        assert_eq!(m.mean(), vec![vec![0.0, 0.0]]);
    }
}
