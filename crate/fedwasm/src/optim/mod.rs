//! Optimizers with TFF's defaults (`tff.learning.optimizers`).
//!
//! * [`UpdateRule`]: the per-variable arithmetic and its hyper-parameters;
//! * [`LearningRate`]: a constant or a schedule indexed by federated round;
//! * [`OptimizerConfig`]: a rule plus a learning rate (serde, JSON);
//! * [`Optimizer`]: a config bound to a list of variable shapes on a backend,
//!   holding the slots, the step counter and the round; its state
//!   ([`OptimizerState`]) serialises to JSON.

mod config;
mod optimizer;
mod rule;
mod schedule;
mod state;
pub(crate) mod validate;

pub use config::OptimizerConfig;
pub use optimizer::Optimizer;
pub use rule::UpdateRule;
pub use schedule::LearningRate;
pub use state::{OptimizerState, SlotTensor};
