//! Optimizers with TFF's defaults (`tff.learning.optimizers`).
//!
//! The configuration types, the saved state and the update arithmetic are
//! plain data and host code in [`fedwasm_protocol::optim`] (re-exported
//! here), which the server side shares:
//! * [`UpdateRule`]: the per-variable arithmetic and its hyper-parameters;
//! * [`LearningRate`]: a constant or a schedule indexed by federated round;
//! * [`OptimizerConfig`]: a rule plus a learning rate (serde, JSON);
//! * [`OptimizerState`]: slots, step counter and round as host data;
//! * [`ServerOptimizer`]: the same rules over host vectors (the server update).
//!
//! Here: [`Optimizer`], a config bound to a list of variable shapes on a
//! backend, holding the slots as backend tensors, the step counter and the
//! round.

mod optimizer;

pub use fedwasm_protocol::optim::{
    kernels, validate, LearningRate, OptimizerConfig, OptimizerState, ServerOptimizer, SlotTensor,
    UpdateRule,
};
pub use optimizer::Optimizer;
