//! [`Optimizer`]: an [`OptimizerConfig`] bound to a fixed list of variables on
//! a backend.
//!
//! # State layout
//! For variable `i` (shape `shapes[i]`) the optimizer keeps `slots[i]`, one
//! backend tensor per entry of [`UpdateRule::slot_inits`], shaped like the
//! variable and initialised to that entry's value. It also keeps the number
//! of updates applied (`step`; the update in progress uses the 1-based
//! `step + 1`, as TFF's bias correction expects) and the federated `round`
//! that indexes the [`LearningRate`](super::LearningRate) schedule.

use super::validate::optimizer_error;
use super::{OptimizerConfig, OptimizerState, SlotTensor, UpdateRule};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::gradient::Gradient;
use crate::tensor::{numel, Precision, Tensor};

/// A stateful optimizer for a fixed list of variable shapes.
#[derive(Clone, Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    shapes: Vec<Vec<usize>>,
    slots: Vec<Vec<Tensor>>,
    step: u64,
    round: u64,
}

/// Fresh slots for `shapes` under `rule`.
fn init_slots(
    rule: &UpdateRule,
    backend: &dyn Backend,
    shapes: &[Vec<usize>],
) -> Result<Vec<Vec<Tensor>>> {
    let inits = rule.slot_inits();
    shapes
        .iter()
        .map(|shape| {
            inits
                .iter()
                .map(|&v| {
                    if v == 0.0 {
                        backend.zeros(shape)
                    } else {
                        backend.upload(shape, &vec![v; numel(shape)])
                    }
                })
                .collect()
        })
        .collect()
}

impl Optimizer {
    /// An optimizer for variables of the given `shapes`, with slots made on
    /// `backend` and initialised per [`UpdateRule::slot_inits`]; step and
    /// round start at 0.
    ///
    /// # Errors
    /// [`Error::Optimizer`] for an invalid configuration
    /// ([`OptimizerConfig::validate`]); whatever `backend` reports when
    /// allocating the slots.
    pub fn new(
        config: OptimizerConfig,
        backend: &dyn Backend,
        shapes: &[Vec<usize>],
    ) -> Result<Self> {
        config.validate()?;
        let slots = init_slots(&config.rule, backend, shapes)?;
        Ok(Optimizer {
            config,
            shapes: shapes.to_vec(),
            slots,
            step: 0,
            round: 0,
        })
    }

    /// Restores an optimizer saved with [`Optimizer::state`], uploading the
    /// slots to `backend`.
    ///
    /// # Errors
    /// [`Error::Optimizer`] when the configuration is invalid, the state was
    /// saved by another rule, or holds the wrong number of slots;
    /// [`Error::Shape`] when a slot's shape differs from its variable's;
    /// [`Error::DataLength`] when a slot's data does not fit its shape.
    pub fn from_state(
        config: OptimizerConfig,
        backend: &dyn Backend,
        state: OptimizerState,
    ) -> Result<Self> {
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
        for (i, (shape, var_slots)) in state.shapes.iter().zip(&state.slots).enumerate() {
            if var_slots.len() != per_var {
                return Err(optimizer_error(
                    name,
                    format!(
                        "variable {i} has {} slot(s) in the state, expected {per_var}",
                        var_slots.len()
                    ),
                ));
            }
            let restored = var_slots
                .iter()
                .map(|slot| {
                    if &slot.shape != shape {
                        return Err(Error::shape("Optimizer::from_state", shape, &slot.shape));
                    }
                    backend.upload(&slot.shape, &slot.data)
                })
                .collect::<Result<Vec<_>>>()?;
            slots.push(restored);
        }
        Ok(Optimizer {
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

    /// The variable shapes this optimizer updates, in order.
    pub fn shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }

    /// The slots of each variable (see the module docs).
    pub fn slots(&self) -> &[Vec<Tensor>] {
        &self.slots
    }

    /// Number of updates applied so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The current federated round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Sets the federated round that indexes the learning-rate schedule.
    pub fn set_round(&mut self, round: u64) {
        self.round = round;
    }

    /// The learning rate at the current round.
    ///
    /// # Errors
    /// [`Error::Optimizer`] if the schedule is invalid or not finite here.
    pub fn learning_rate(&self) -> Result<f32> {
        self.config.learning_rate.at(self.round)
    }

    /// Re-initialises the slots and the step counter (the round is kept), as
    /// TFF does for a client optimizer at the start of each round.
    ///
    /// # Errors
    /// Whatever `backend` reports when allocating the slots.
    pub fn reset(&mut self, backend: &dyn Backend) -> Result<()> {
        self.slots = init_slots(&self.config.rule, backend, &self.shapes)?;
        self.step = 0;
        Ok(())
    }

    /// Applies one update: `vars[i]` moves by `grads[i]` under the rule at
    /// step `step_count() + 1` and the current round's learning rate.
    ///
    /// # Errors
    /// [`Error::Optimizer`] when the number of variables or gradients differs
    /// from the optimizer's, or the learning rate is invalid;
    /// [`Error::Shape`] when a variable or gradient has the wrong shape;
    /// [`Error::Storage`] when precisions differ. These are all checked before
    /// anything changes. A backend error part-way leaves the variables before
    /// the failing one updated and the step counter unchanged.
    pub fn apply(
        &mut self,
        backend: &dyn Backend,
        vars: &mut [&mut Tensor],
        grads: &[&Tensor],
    ) -> Result<()> {
        let (lr, step) = self.check(vars, grads.iter().map(|g| (g.shape(), g.precision())))?;
        for ((var, grad), slots) in vars.iter_mut().zip(grads).zip(self.slots.iter_mut()) {
            backend.optimizer_step(&self.config.rule, step, lr, var, grad, slots)?;
        }
        self.step = step;
        Ok(())
    }

    /// [`Optimizer::apply`] for gradients that may be sparse. A
    /// [`Gradient::Rows`] updates only its rows
    /// ([`Backend::optimizer_step_rows`]) when the rule is
    /// [`UpdateRule::sparse_exact`] (plain SGD, Adagrad), which gives exactly
    /// the dense update; under any other rule it is densified first
    /// ([`crate::gradient::RowGradient::to_dense`]), since those rules change
    /// rows without a gradient too.
    ///
    /// # Errors
    /// As [`Optimizer::apply`].
    pub fn apply_gradients(
        &mut self,
        backend: &dyn Backend,
        vars: &mut [&mut Tensor],
        grads: &[&Gradient],
    ) -> Result<()> {
        let (lr, step) = self.check(vars, grads.iter().map(|g| (g.shape(), g.precision())))?;
        let rule = &self.config.rule;
        for ((var, grad), slots) in vars.iter_mut().zip(grads).zip(self.slots.iter_mut()) {
            match grad {
                Gradient::Dense(g) => backend.optimizer_step(rule, step, lr, var, g, slots)?,
                Gradient::Rows(r) if rule.sparse_exact() => {
                    backend.optimizer_step_rows(rule, step, lr, var, r, slots)?
                }
                Gradient::Rows(r) => {
                    let dense = r.to_dense(backend)?;
                    backend.optimizer_step(rule, step, lr, var, &dense, slots)?
                }
            }
        }
        self.step = step;
        Ok(())
    }

    /// Checks the operands of an update (counts, shapes, precisions) and
    /// returns the learning rate and the 1-based step it will use.
    fn check<'g>(
        &self,
        vars: &[&mut Tensor],
        grads: impl ExactSizeIterator<Item = (&'g [usize], Precision)>,
    ) -> Result<(f32, u64)> {
        const OP: &str = "Optimizer::apply";
        let name = self.config.rule.name();
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
        for (i, ((shape, var), (grad_shape, grad_precision))) in
            self.shapes.iter().zip(vars.iter()).zip(grads).enumerate()
        {
            if var.shape() != shape.as_slice() {
                return Err(Error::shape(OP, shape, var.shape()));
            }
            if grad_shape != shape.as_slice() {
                return Err(Error::shape(OP, shape, grad_shape));
            }
            let precisions =
                std::iter::once(grad_precision).chain(self.slots[i].iter().map(Tensor::precision));
            for p in precisions {
                if p != var.precision() {
                    return Err(Error::Storage {
                        op: OP,
                        detail: format!(
                            "variable {i} is {:?} but its gradient or a slot is {p:?}",
                            var.precision()
                        ),
                    });
                }
            }
        }
        let lr = self.learning_rate()?;
        let step = self
            .step
            .checked_add(1)
            .ok_or_else(|| optimizer_error(name, "step counter overflow"))?;
        Ok((lr, step))
    }

    /// The state (step, round, slots read back to the host) for saving.
    ///
    /// # Errors
    /// Whatever [`Backend::read`] reports.
    pub async fn state(&self, backend: &dyn Backend) -> Result<OptimizerState> {
        let mut slots = Vec::with_capacity(self.slots.len());
        for var_slots in &self.slots {
            let mut host = Vec::with_capacity(var_slots.len());
            for slot in var_slots {
                host.push(SlotTensor {
                    shape: slot.shape().to_vec(),
                    data: backend.read(slot).await?,
                });
            }
            slots.push(host);
        }
        Ok(OptimizerState {
            optimizer: self.config.rule.name().into(),
            step: self.step,
            round: self.round,
            shapes: self.shapes.clone(),
            slots,
        })
    }

    /// [`Optimizer::state`], blocking: native code and tests only.
    ///
    /// # Errors
    /// Whatever [`Backend::read`] reports.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn state_blocking(&self, backend: &dyn Backend) -> Result<OptimizerState> {
        pollster::block_on(self.state(backend))
    }
}
