//! [`ServerOptimizer`]: an [`OptimizerConfig`] over host vectors, for the
//! server update of a round. It runs the same [`super::kernels`] as the
//! engine's CPU backend, so its result is the CPU backend's, bit for bit.
//!
//! # State layout
//! As `fedwasm::optim::Optimizer`: for variable `i` (shape `shapes[i]`) one
//! slot vector per entry of [`UpdateRule::slot_inits`](super::UpdateRule::slot_inits),
//! initialised to that entry's value; the number of updates applied
//! (`step`; an update uses the 1-based `step + 1`) and the federated
//! `round` that indexes the learning-rate schedule. [`ServerOptimizer::state`]
//! gives it as an [`OptimizerState`].

use super::kernels;
use super::validate::{check_step, optimizer_error};
use super::{OptimizerConfig, OptimizerState, SlotTensor};
use crate::error::{Error, Result};
use crate::limits::{checked_product, LimitField};

/// A host optimizer for a fixed list of variable shapes (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ServerOptimizer {
    config: OptimizerConfig,
    shapes: Vec<Vec<usize>>,
    /// `slots[i][j]`: slot `j` of variable `i`.
    slots: Vec<Vec<Vec<f32>>>,
    step: u64,
    round: u64,
}

fn elements(op: &'static str, shape: &[usize]) -> Result<usize> {
    checked_product(
        op,
        LimitField::TensorElements,
        || format!("elements of a variable of shape {shape:?}"),
        shape.iter().copied(),
    )
}

impl ServerOptimizer {
    /// A fresh optimizer (slots at their initial values, step and round 0).
    ///
    /// # Errors
    /// [`Error::Optimizer`] for an invalid configuration; [`Error::Limit`]
    /// for a shape over the tensor limit.
    pub fn new(config: OptimizerConfig, shapes: &[Vec<usize>]) -> Result<Self> {
        config.validate()?;
        let inits = config.rule.slot_inits();
        let mut slots = Vec::with_capacity(shapes.len());
        for s in shapes {
            let n = elements("ServerOptimizer::new", s)?;
            slots.push(inits.iter().map(|&v| vec![v; n]).collect());
        }
        Ok(ServerOptimizer {
            config,
            shapes: shapes.to_vec(),
            slots,
            step: 0,
            round: 0,
        })
    }

    /// Restores a saved state.
    ///
    /// # Errors
    /// [`Error::Optimizer`] when the configuration is invalid, the state was
    /// saved by another rule or holds the wrong number of slots;
    /// [`Error::Shape`] when a slot's shape differs from its variable's;
    /// [`Error::DataLength`] when a slot's data does not fit its shape.
    pub fn from_state(config: OptimizerConfig, state: OptimizerState) -> Result<Self> {
        const OP: &str = "ServerOptimizer::from_state";
        config.validate()?;
        let name = config.rule.name();
        if state.optimizer != name {
            return Err(optimizer_error(
                name,
                format!("state was saved by optimizer {:?}", state.optimizer),
            ));
        }
        if state.slots.len() != state.shapes.len() {
            return Err(optimizer_error(
                name,
                format!(
                    "state has slots for {} variables but {} shapes",
                    state.slots.len(),
                    state.shapes.len()
                ),
            ));
        }
        let per_var = config.rule.slot_inits().len();
        let mut slots = Vec::with_capacity(state.slots.len());
        for (i, (shape, var_slots)) in state.shapes.iter().zip(state.slots).enumerate() {
            if var_slots.len() != per_var {
                return Err(optimizer_error(
                    name,
                    format!(
                        "variable {i} has {} slot(s) in the state, expected {per_var}",
                        var_slots.len()
                    ),
                ));
            }
            let n = elements(OP, shape)?;
            let mut restored = Vec::with_capacity(per_var);
            for slot in var_slots {
                if &slot.shape != shape {
                    return Err(Error::shape(OP, shape, &slot.shape));
                }
                if slot.data.len() != n {
                    return Err(Error::DataLength {
                        op: OP,
                        shape: slot.shape,
                        len: slot.data.len(),
                    });
                }
                restored.push(slot.data);
            }
            slots.push(restored);
        }
        Ok(ServerOptimizer {
            config,
            shapes: state.shapes,
            slots,
            step: state.step,
            round: state.round,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Sets the federated round that indexes the learning-rate schedule.
    pub fn set_round(&mut self, round: u64) {
        self.round = round;
    }

    /// Number of updates applied so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Applies one update: `vars[i]` moves by `grads[i]` under the rule at
    /// step `step_count() + 1` and the current round's learning rate.
    ///
    /// # Errors
    /// [`Error::Optimizer`] for a wrong number of variables or an invalid
    /// learning rate; [`Error::Shape`] for a variable or gradient of the
    /// wrong length. All checked before anything changes.
    pub fn apply(&mut self, vars: &mut [&mut [f32]], grads: &[&[f32]]) -> Result<()> {
        const OP: &str = "ServerOptimizer::apply";
        let rule = &self.config.rule;
        let name = rule.name();
        if vars.len() != self.shapes.len() || grads.len() != self.shapes.len() {
            return Err(optimizer_error(
                name,
                format!(
                    "built for {} variables, given {} variables and {} gradients",
                    self.shapes.len(),
                    vars.len(),
                    grads.len()
                ),
            ));
        }
        for ((var, grad), shape) in vars.iter().zip(grads).zip(&self.shapes) {
            let n = elements(OP, shape)?;
            if var.len() != n || grad.len() != n {
                return Err(Error::shape(
                    OP,
                    format!("{n} values (shape {shape:?})"),
                    format!(
                        "a variable of {} and a gradient of {}",
                        var.len(),
                        grad.len()
                    ),
                ));
            }
        }
        let lr = self.config.learning_rate.at(self.round)?;
        let step = self
            .step
            .checked_add(1)
            .ok_or_else(|| optimizer_error(name, "step counter overflow"))?;
        check_step(rule, step, lr, rule.slot_inits().len())?;
        for ((var, grad), slots) in vars.iter_mut().zip(grads).zip(self.slots.iter_mut()) {
            let mut slot_refs: Vec<&mut [f32]> = slots.iter_mut().map(Vec::as_mut_slice).collect();
            kernels::step(rule, step, lr, var, grad, &mut slot_refs)?;
        }
        self.step = step;
        Ok(())
    }

    /// The state for saving.
    pub fn state(&self) -> OptimizerState {
        OptimizerState {
            optimizer: self.config.rule.name().into(),
            step: self.step,
            round: self.round,
            shapes: self.shapes.clone(),
            slots: self
                .shapes
                .iter()
                .zip(&self.slots)
                .map(|(shape, slots)| {
                    slots
                        .iter()
                        .map(|d| SlotTensor {
                            shape: shape.clone(),
                            data: d.clone(),
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_state_round_trips_and_continues_identically() {
        let shapes = vec![vec![2], vec![1]];
        let config = OptimizerConfig::adam(0.1);
        let mut a = ServerOptimizer::new(config.clone(), &shapes).unwrap();
        let (mut w0, mut w1) = (vec![1.0f32, -1.0], vec![0.5f32]);
        a.apply(&mut [&mut w0, &mut w1], &[&[0.5, 0.25], &[-1.0]])
            .unwrap();
        let mut b = ServerOptimizer::from_state(config, a.state()).unwrap();
        let (mut v0, mut v1) = (w0.clone(), w1.clone());
        a.apply(&mut [&mut w0, &mut w1], &[&[0.1, 0.2], &[0.3]])
            .unwrap();
        b.apply(&mut [&mut v0, &mut v1], &[&[0.1, 0.2], &[0.3]])
            .unwrap();
        assert_eq!((w0, w1), (v0, v1));
        assert_eq!(a.step_count(), 2);
    }

    #[test]
    fn wrong_lengths_change_nothing() {
        let mut o = ServerOptimizer::new(OptimizerConfig::sgd(1.0), &[vec![2]]).unwrap();
        let mut w = vec![1.0f32];
        assert_eq!(
            o.apply(&mut [&mut w], &[&[1.0]]).unwrap_err().code(),
            "shape"
        );
        assert_eq!(o.step_count(), 0);
    }
}
