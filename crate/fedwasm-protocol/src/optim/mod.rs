//! Optimizers with TFF's defaults (`tff.learning.optimizers`), as plain data
//! and host arithmetic.
//!
//! * [`UpdateRule`]: the per-variable arithmetic and its hyper-parameters;
//! * [`LearningRate`]: a constant or a schedule indexed by federated round;
//! * [`OptimizerConfig`]: a rule plus a learning rate (serde, JSON);
//! * [`OptimizerState`]: the slots, step counter and round of an optimizer,
//!   as host data for checkpoints;
//! * [`kernels`]: the elementwise update of each rule on slices, generic
//!   over `f32`/`f64`: the engine's CPU backend and [`ServerOptimizer`] both
//!   run exactly this code, so a server update gives the same bits on the
//!   host as on the CPU backend;
//! * [`ServerOptimizer`]: an optimizer over host vectors, for the server
//!   update of a round (no backend needed).

mod config;
pub mod kernels;
mod rule;
mod schedule;
mod server;
mod state;
pub mod validate;

pub use config::OptimizerConfig;
pub use rule::UpdateRule;
pub use schedule::LearningRate;
pub use server::ServerOptimizer;
pub use state::{OptimizerState, SlotTensor};
