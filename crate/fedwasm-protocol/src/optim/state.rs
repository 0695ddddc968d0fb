//! [`OptimizerState`]: everything an optimizer (`fedwasm::optim::Optimizer` on a backend, [`super::ServerOptimizer`] on the host) carries
//! between calls, as plain host data for saving and restoring.
//!
//! # JSON
//! ```json
//! {"optimizer": "adam", "step": 3, "round": 1,
//!  "shapes": [[2, 3], [3]],
//!  "slots": [[{"shape": [2, 3], "data": [..6..]}, {"shape": [2, 3], "data": [..]}],
//!            [{"shape": [3], "data": [..]}, {"shape": [3], "data": [..]}]]}
//! ```
//! `shapes[i]` is variable `i`'s shape; `slots[i]` its slots in
//! [`crate::optim::UpdateRule::slot_inits`] order, `data` row-major `f32`.
//! `f32` values round-trip bit-exactly through the JSON (shortest round-trip
//! printing); slots of an `f64` backend are rounded to `f32`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One slot tensor on the host: shape and row-major `f32` data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotTensor {
    /// Shape, outermost dimension first (equal to its variable's shape).
    pub shape: Vec<usize>,
    /// Row-major elements.
    pub data: Vec<f32>,
}

/// A snapshot of an optimizer's state. See the module docs for the layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerState {
    /// The rule's name ([`crate::optim::UpdateRule::name`]), checked on restore.
    pub optimizer: String,
    /// Number of updates applied so far (the next one is `step + 1`).
    pub step: u64,
    /// Current federated round (indexes the learning-rate schedule).
    pub round: u64,
    /// Shape of each variable.
    pub shapes: Vec<Vec<usize>>,
    /// Slots of each variable.
    pub slots: Vec<Vec<SlotTensor>>,
}

const WHAT: &str = "optimizer state";

impl OptimizerState {
    /// The state as JSON.
    ///
    /// # Errors
    /// [`Error::NonFinite`] if a slot holds NaN or an infinity (JSON cannot
    /// carry them); [`Error::Json`] if serialisation fails.
    pub fn to_json(&self) -> Result<String> {
        for (i, slots) in self.slots.iter().enumerate() {
            for (j, slot) in slots.iter().enumerate() {
                if let Some(k) = slot.data.iter().position(|v| !v.is_finite()) {
                    return Err(Error::NonFinite {
                        op: "OptimizerState::to_json",
                        detail: format!(
                            "slot {j} of variable {i} holds {} at index {k}",
                            slot.data[k]
                        ),
                    });
                }
            }
        }
        serde_json::to_string(self).map_err(|source| Error::Json {
            what: WHAT.into(),
            source,
        })
    }

    /// Parses a state from JSON and checks its sizes: each shape within
    /// the tensor limit, each slot's data fitting its shape, the slots
    /// together within the parameter limit. Consistency with a
    /// configuration is checked by `fedwasm::optim::Optimizer::from_state`
    /// and [`super::ServerOptimizer::from_state`].
    ///
    /// # Errors
    /// [`Error::Limit`] for a text over `max_message_bytes` or sizes over
    /// the limits; [`Error::Json`] for malformed JSON or unknown fields;
    /// [`Error::Data`] for a slot whose data does not fit its shape.
    pub fn from_json(json: &str) -> Result<Self> {
        const OP: &str = "OptimizerState::from_json";
        crate::limits::Limits::current().check_bytes(OP, "an optimizer state", json.len())?;
        let state: OptimizerState = serde_json::from_str(json).map_err(|source| Error::Json {
            what: WHAT.into(),
            source,
        })?;
        state.check_sizes(OP)?;
        Ok(state)
    }

    /// Checks the sizes of a state from input (see
    /// [`OptimizerState::from_json`]).
    ///
    /// # Errors
    /// As [`OptimizerState::from_json`], naming `op` and the variable.
    pub fn check_sizes(&self, op: &'static str) -> Result<()> {
        use crate::limits::{tensor_elements, LimitField, Limits};
        let mut total = 0u64;
        for (i, shape) in self.shapes.iter().enumerate() {
            tensor_elements(op, shape).map_err(|e| e.in_context(format_args!("variable {i}")))?;
        }
        for (i, slots) in self.slots.iter().enumerate() {
            for (j, slot) in slots.iter().enumerate() {
                let at = |e: Error| e.in_context(format_args!("slot {j} of variable {i}"));
                let n = tensor_elements(op, &slot.shape).map_err(at)?;
                if n != slot.data.len() {
                    return Err(Error::data(
                        WHAT,
                        format!("slot {j} of variable {i}"),
                        "data",
                        format!("{} values for shape {:?}", slot.data.len(), slot.shape),
                    ));
                }
                total += n as u64;
                Limits::current()
                    .check(
                        op,
                        LimitField::ModelParameters,
                        "slot elements (all slots together)",
                        total,
                    )
                    .map_err(at)?;
            }
        }
        Ok(())
    }
}
