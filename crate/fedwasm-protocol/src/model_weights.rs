//! [`ModelWeights`]: the global model weights a learning process shares
//! (TFF's `tff.learning.models.ModelWeights`).
//!
//! # Layout
//! Two ordered lists of [`NamedTensor`]s (name, shape, row-major `f32`):
//! `trainable` holds the model's [`VariableGroup::GlobalTrainable`] variables
//! and `non_trainable` its [`VariableGroup::GlobalNonTrainable`] ones, each in
//! the model's variable order. Local variables never appear here: they never
//! leave the client. JSON: `{"trainable": [{"name", "shape", "data"}, ..],
//! "non_trainable": [..]}`; `f32` values round-trip bit for bit.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::variables::{VariableGroup, VariableInfo};
use crate::weights::{NamedTensor, WeightsSnapshot};

/// A model's global weights, split as TFF's `ModelWeights`. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelWeights {
    /// Global trainable variables, in model order.
    pub trainable: Vec<NamedTensor>,
    /// Global non-trainable variables, in model order.
    pub non_trainable: Vec<NamedTensor>,
}

/// The name and shape of every variable of one list, for messages.
fn structure(vars: &[NamedTensor]) -> Vec<(String, Vec<usize>)> {
    vars.iter()
        .map(|v| (v.name.clone(), v.shape.clone()))
        .collect()
}

impl ModelWeights {
    /// Checks that the names and shapes (in order) are those of the global
    /// variables among `variables`.
    ///
    /// # Errors
    /// [`Error::WeightsStructure`] naming `op` and both structures.
    pub fn check_structure(&self, op: &'static str, variables: &[VariableInfo]) -> Result<()> {
        let want = |g: VariableGroup| -> Vec<(String, Vec<usize>)> {
            variables
                .iter()
                .filter(|v| v.group == g)
                .map(|v| (v.name.clone(), v.shape.clone()))
                .collect()
        };
        let (wt, wn) = (
            want(VariableGroup::GlobalTrainable),
            want(VariableGroup::GlobalNonTrainable),
        );
        let (gt, gn) = (structure(&self.trainable), structure(&self.non_trainable));
        if wt != gt || wn != gn {
            return Err(Error::WeightsStructure {
                op,
                expected: format!("trainable {wt:?}, non_trainable {wn:?}"),
                got: format!("trainable {gt:?}, non_trainable {gn:?}"),
            });
        }
        for v in self.trainable.iter().chain(&self.non_trainable) {
            if v.data.len() != v.shape.iter().product::<usize>() {
                return Err(Error::WeightsStructure {
                    op,
                    expected: format!("{:?}: {} values", v.name, v.shape.iter().product::<usize>()),
                    got: format!("{} values", v.data.len()),
                });
            }
        }
        Ok(())
    }

    /// The shapes of the trainable variables, in order.
    pub fn trainable_shapes(&self) -> Vec<Vec<usize>> {
        self.trainable.iter().map(|v| v.shape.clone()).collect()
    }

    /// All variables (trainable, then non-trainable) as a weights file
    /// snapshot ([`WeightsSnapshot::to_json`], [`WeightsSnapshot::to_bytes`]).
    pub fn to_snapshot(&self) -> WeightsSnapshot {
        WeightsSnapshot::new(
            self.trainable
                .iter()
                .chain(&self.non_trainable)
                .cloned()
                .collect(),
        )
    }

    /// The global weights of `model` found in `snapshot` (by name), split
    /// into trainable and non-trainable: the inverse of
    /// [`ModelWeights::to_snapshot`].
    ///
    /// # Errors
    /// [`Error::WeightsStructure`] when a global variable is missing or has
    /// another shape.
    pub fn from_snapshot(snapshot: &WeightsSnapshot, variables: &[VariableInfo]) -> Result<Self> {
        const OP: &str = "ModelWeights::from_snapshot";
        let mut w = ModelWeights::default();
        for info in variables.iter().filter(|v| v.group.is_global()) {
            let v = snapshot
                .get(&info.name)
                .ok_or_else(|| Error::WeightsStructure {
                    op: OP,
                    expected: format!("a variable {:?} of shape {:?}", info.name, info.shape),
                    got: format!("variables {:?}", snapshot.names()),
                })?;
            if v.shape != info.shape {
                return Err(Error::WeightsStructure {
                    op: OP,
                    expected: format!("{:?} of shape {:?}", info.name, info.shape),
                    got: format!("shape {:?}", v.shape),
                });
            }
            match info.group {
                VariableGroup::GlobalTrainable => w.trainable.push(v.clone()),
                _ => w.non_trainable.push(v.clone()),
            }
        }
        Ok(w)
    }

    /// True when every value is finite.
    pub fn is_finite(&self) -> bool {
        self.trainable
            .iter()
            .chain(&self.non_trainable)
            .all(|v| v.data.iter().all(|x| x.is_finite()))
    }
}
