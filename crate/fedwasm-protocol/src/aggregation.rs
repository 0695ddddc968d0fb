//! Aggregating client model updates on the server.
//!
//! # Data layout
//! A client update is one row-major `f32` vector per global trainable
//! variable (`client weights - broadcast weights`, in model order), plus a
//! weight ([`ClientWeighting`]): a whole number, the examples the client
//! trained on or 1. [`WeightedMean`] keeps one exact fixed-point sum of
//! `weight * update` per variable element ([`crate::exact::DeltaSums`], 48
//! bytes each, limb-major) and the exact total weight, **on the host**: memory is O(model
//! size) whatever the number of clients, and the result is the same bits
//! for any order of arrival and on every target (integer addition is exact
//! and commutative; the sum is rounded to `f64` once, at the end). The mean
//! is `sum / total_weight`, or zero when the total weight is zero (TFF's
//! `divide_no_nan`).
//!
//! Updates must be finite: [`crate::server::ServerRound`] refuses
//! non-finite ones before they reach an aggregator. A client whose own
//! update turned out non-finite sends zeros with weight 0 instead (TFF's
//! `zero_all_if_any_non_finite`, done by the engine's `client_update`), and
//! the round counts it. A mean that is still not finite as `f32` is
//! rejected by the finalizer ([`crate::finalizer`]).
//!
//! [`ModelAggregator`] is the pluggable interface (TFF's model aggregator
//! factories); [`MeanAggregator`] (TFF's `MeanFactory`) is the default.

use crate::json::{obj, Json};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Float, Result};
use crate::exact::{DeltaSums, Exponents, MAX_WEIGHT};
use crate::limits::{checked_product, LimitField};

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
    sums: Vec<DeltaSums>,
    total_weight: u64,
    clients: usize,
}

impl WeightedMean {
    /// An empty mean over variables of `shapes`.
    ///
    /// # Errors
    /// [`Error::Limit`] for a shape over the tensor limit.
    pub fn new(shapes: &[Vec<usize>]) -> Result<Self> {
        let mut sums = Vec::with_capacity(shapes.len());
        for s in shapes {
            let n = checked_product(
                "WeightedMean::new",
                LimitField::TensorElements,
                || format!("elements of an update of shape {s:?}"),
                s.iter().copied(),
            )?;
            sums.push(DeltaSums::new(n));
        }
        Ok(WeightedMean {
            shapes: shapes.to_vec(),
            sums,
            total_weight: 0,
            clients: 0,
        })
    }

    /// Checks that `weight` is a whole number in `0..=`[`MAX_WEIGHT`] and
    /// returns it as an integer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] otherwise.
    pub fn check_weight(op: &'static str, weight: f64) -> Result<u64> {
        if !(weight.is_finite() && weight >= 0.0 && weight.fract() == 0.0)
            || weight > MAX_WEIGHT as f64
        {
            return Err(Error::invalid(
                op,
                format!(
                    "a client weight must be a whole number in 0..=2^32, got {}",
                    Float(weight)
                ),
            ));
        }
        Ok(weight as u64)
    }

    /// Adds one client's `update` with `weight`: `sum += weight * update`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the update has the wrong number of variables or
    /// lengths; [`Error::InvalidArgument`] for a weight that is not a whole
    /// number in `0..=2^32` or a non-finite value. Nothing is added then.
    pub fn add<V: AsRef<[f32]>>(&mut self, update: &[V], weight: f64) -> Result<()> {
        let update: Vec<&[f32]> = update.iter().map(AsRef::as_ref).collect();
        // One pass over the values: finiteness, and the exponents the sums
        // use.
        let exponents: Vec<Exponents> = update.iter().map(|u| Exponents::of(u)).collect();
        self.add_scanned(&update, &exponents, weight)
    }

    /// [`WeightedMean::add`] with `Exponents::of` each variable already
    /// computed (by the round's validation: one pass less).
    ///
    /// # Errors
    /// As [`WeightedMean::add`]; also [`Error::Shape`] when `exponents` has
    /// not one entry a variable.
    pub(crate) fn add_scanned(
        &mut self,
        update: &[&[f32]],
        exponents: &[Exponents],
        weight: f64,
    ) -> Result<()> {
        const OP: &str = "WeightedMean::add";
        let w = Self::check_weight(OP, weight)?;
        let want: Vec<usize> = self.sums.iter().map(DeltaSums::len).collect();
        let got: Vec<usize> = update.iter().map(|u| u.len()).collect();
        if want != got {
            return Err(Error::shape(
                OP,
                format!("variables of {want:?} elements"),
                format!("{got:?}"),
            ));
        }
        if exponents.len() != update.len() {
            return Err(Error::shape(
                OP,
                format!("{} exponents", update.len()),
                format!("{}", exponents.len()),
            ));
        }
        if let Some((i, j)) = exponents
            .iter()
            .zip(update)
            .enumerate()
            .find(|(_, (e, _))| !e.all_finite())
            .and_then(|(i, (_, u))| u.iter().position(|x| !x.is_finite()).map(|j| (i, j)))
        {
            return Err(Error::invalid(
                OP,
                format!(
                    "update variable {i} holds {} at index {j}",
                    Float(update[i][j])
                ),
            ));
        }
        let total = self
            .total_weight
            .checked_add(w)
            .ok_or_else(|| Error::invalid(OP, "the total weight overflows 64 bits"))?;
        for ((sum, u), &e) in self.sums.iter_mut().zip(update).zip(exponents) {
            sum.add_scanned(w, u, e);
        }
        self.total_weight = total;
        self.clients += 1;
        Ok(())
    }

    /// The total weight so far.
    pub fn total_weight(&self) -> f64 {
        self.total_weight as f64
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
        let w = self.total_weight as f64;
        self.sums
            .iter()
            .map(|s| {
                (0..s.len())
                    .map(|i| if w == 0.0 { 0.0 } else { s.value(i) / w })
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
    pub state: Json,
    /// Reported under `aggregator` in the round's metrics.
    pub measurements: Json,
}

/// One round's aggregation in progress: takes validated client updates in
/// any order (an implementation must give the same result for every order).
pub trait AggregationRound {
    /// Adds one client's update and weight.
    ///
    /// # Errors
    /// An update of the wrong structure or an invalid weight.
    fn accumulate(&mut self, update: &[&[f32]], weight: f64) -> Result<()>;
    /// [`AggregationRound::accumulate`] with `Exponents::of` each variable
    /// already computed (the round's validation scans every value):
    /// `exponents[i]` must be `Exponents::of(update[i])`. By default,
    /// `accumulate`.
    ///
    /// # Errors
    /// As [`AggregationRound::accumulate`].
    fn accumulate_scanned(
        &mut self,
        update: &[&[f32]],
        exponents: &[Exponents],
        weight: f64,
    ) -> Result<()> {
        let _ = exponents;
        self.accumulate(update, weight)
    }
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
    fn initialize(&self) -> Json;
    /// Starts a round over variables of `shapes` from `state`.
    ///
    /// # Errors
    /// [`Error::StateNotAssignable`] when `state` is not this aggregator's.
    fn start(&self, state: &Json, shapes: &[Vec<usize>]) -> Result<Box<dyn AggregationRound>>;
}

/// The weighted mean (TFF's `MeanFactory`): stateless (state
/// `{"value_sum_process": {}, "weight_sum_process": {}}`), measurements
/// `{"mean_value": {}, "mean_weight": {}}`. Whether the mean is weighted by
/// examples or uniform is the client weighting's business.
#[derive(Clone, Copy, Debug, Default)]
pub struct MeanAggregator;

impl MeanAggregator {
    fn state() -> Json {
        obj(vec![
            ("value_sum_process", Json::Obj(Vec::new())),
            ("weight_sum_process", Json::Obj(Vec::new())),
        ])
    }
}

struct MeanRound(WeightedMean);

impl AggregationRound for MeanRound {
    fn accumulate(&mut self, update: &[&[f32]], weight: f64) -> Result<()> {
        self.0.add(update, weight)
    }

    fn accumulate_scanned(
        &mut self,
        update: &[&[f32]],
        exponents: &[Exponents],
        weight: f64,
    ) -> Result<()> {
        self.0.add_scanned(update, exponents, weight)
    }

    fn finish(self: Box<Self>) -> Result<Aggregate> {
        Ok(Aggregate {
            update: self.0.mean(),
            state: MeanAggregator::state(),
            measurements: obj(vec![
                ("mean_value", Json::Obj(Vec::new())),
                ("mean_weight", Json::Obj(Vec::new())),
            ]),
        })
    }
}

impl ModelAggregator for MeanAggregator {
    fn name(&self) -> &str {
        "mean"
    }

    fn initialize(&self) -> Json {
        Self::state()
    }

    fn start(&self, state: &Json, shapes: &[Vec<usize>]) -> Result<Box<dyn AggregationRound>> {
        if *state != Self::state() {
            return Err(Error::StateNotAssignable {
                op: "MeanAggregator::start",
                detail: format!(
                    "aggregator state {} is not the mean aggregator's {}",
                    crate::json::to_string(state),
                    crate::json::to_string(&Self::state())
                ),
            });
        }
        Ok(Box::new(MeanRound(WeightedMean::new(shapes)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_weight_gives_zero_and_bad_input_is_refused() {
        let mut m = WeightedMean::new(&[vec![2]]).unwrap();
        assert_eq!(m.mean(), vec![vec![0.0, 0.0]]);
        assert!(m.add(&[vec![1.0]], 1.0).is_err());
        assert!(m.add(&[vec![1.0, 2.0]], -1.0).is_err());
        assert!(m.add(&[vec![1.0, 2.0]], f64::NAN).is_err());
        assert!(m.add(&[vec![1.0, 2.0]], 1.5).is_err());
        assert!(m.add(&[vec![1.0, f32::NAN]], 1.0).is_err());
        assert!(m.add(&[vec![1.0, 2.0]], 2f64.powi(33)).is_err());
        assert_eq!(m.num_clients(), 0);
        m.add(&[vec![1.0, 2.0]], 0.0).unwrap();
        assert_eq!(m.mean(), vec![vec![0.0, 0.0]]);
    }
}
