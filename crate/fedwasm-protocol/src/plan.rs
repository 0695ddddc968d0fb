//! [`DatasetPlan`]: how a client turns its local examples into the batches
//! of a round (TFF's client `preprocess` function), as data that travels in
//! a [`crate::messages::ClientTask`]. The engine applies it to a client's
//! dataset (`fedwasm::data::Dataset`), op by op, in order; an empty plan
//! means "the dataset as the caller built it".
//!
//! JSON: `{"ops": [{"op": "repeat", "count": 5}, {"op": "shuffle",
//! "buffer": 100, "seed": 1}, {"op": "batch", "size": 20}]}`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One step of a [`DatasetPlan`] (the `tf.data` transformation of the same name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum DatasetOp {
    /// The data `count` times over (each pass reshuffles an upstream shuffle).
    Repeat {
        /// Passes (at least 1).
        count: usize,
    },
    /// A shuffle buffer of `buffer` examples, seeded.
    Shuffle {
        /// Buffer size (at least 1).
        buffer: usize,
        /// Seed of the shuffle.
        seed: u64,
    },
    /// Batches of `size`; the last one may be smaller unless `drop_remainder`.
    Batch {
        /// Batch size (at least 1).
        size: usize,
        /// Drop a last, smaller batch.
        #[serde(default)]
        drop_remainder: bool,
    },
    /// The first `count` elements.
    Take {
        /// Elements kept.
        count: usize,
    },
    /// All but the first `count` elements.
    Skip {
        /// Elements dropped.
        count: usize,
    },
}

/// A dataset plan (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetPlan {
    /// The steps, applied in order.
    pub ops: Vec<DatasetOp>,
}

impl DatasetPlan {
    /// The empty plan.
    pub fn new() -> Self {
        DatasetPlan::default()
    }

    fn then(mut self, op: DatasetOp) -> Self {
        self.ops.push(op);
        self
    }

    /// Adds [`DatasetOp::Repeat`].
    pub fn repeat(self, count: usize) -> Self {
        self.then(DatasetOp::Repeat { count })
    }

    /// Adds [`DatasetOp::Shuffle`].
    pub fn shuffle(self, buffer: usize, seed: u64) -> Self {
        self.then(DatasetOp::Shuffle { buffer, seed })
    }

    /// Adds [`DatasetOp::Batch`] (keeping a smaller last batch).
    pub fn batch(self, size: usize) -> Self {
        self.then(DatasetOp::Batch {
            size,
            drop_remainder: false,
        })
    }

    /// Adds [`DatasetOp::Take`].
    pub fn take(self, count: usize) -> Self {
        self.then(DatasetOp::Take { count })
    }

    /// Adds [`DatasetOp::Skip`].
    pub fn skip(self, count: usize) -> Self {
        self.then(DatasetOp::Skip { count })
    }

    /// Checks the plan: counts and sizes at least 1 where zero makes no
    /// sense, at most one batch step, and at most 64 steps.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first bad step.
    pub fn validate(&self) -> Result<()> {
        const OP: &str = "DatasetPlan::validate";
        if self.ops.len() > 64 {
            return Err(Error::invalid(
                OP,
                format!("{} steps; at most 64", self.ops.len()),
            ));
        }
        let mut batches = 0;
        for (i, op) in self.ops.iter().enumerate() {
            let zero = match op {
                DatasetOp::Repeat { count } => (*count == 0).then_some("repeat count"),
                DatasetOp::Shuffle { buffer, .. } => (*buffer == 0).then_some("shuffle buffer"),
                DatasetOp::Batch { size, .. } => {
                    batches += 1;
                    (*size == 0).then_some("batch size")
                }
                DatasetOp::Take { .. } | DatasetOp::Skip { .. } => None,
            };
            if let Some(what) = zero {
                return Err(Error::invalid(
                    OP,
                    format!("step {i}: {what} must be at least 1"),
                ));
            }
        }
        if batches > 1 {
            return Err(Error::invalid(
                OP,
                format!("{batches} batch steps; at most 1"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_validates_and_round_trips_json() {
        let p = DatasetPlan::new()
            .repeat(5)
            .shuffle(100, 1)
            .batch(20)
            .skip(1)
            .take(3);
        p.validate().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains(r#"{"op":"shuffle","buffer":100,"seed":1}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<DatasetPlan>(&json).unwrap(), p);
        assert!(DatasetPlan::new().batch(0).validate().is_err());
        assert!(DatasetPlan::new().batch(2).batch(2).validate().is_err());
        assert!(serde_json::from_str::<DatasetPlan>(r#"{"ops":[{"op":"map"}]}"#).is_err());
        assert!(serde_json::from_str::<DatasetPlan>(r#"{"ops":[],"x":1}"#).is_err());
    }
}
