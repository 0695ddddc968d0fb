//! Optimizers with TFF's defaults (`tff.learning.optimizers`).

mod rule;

pub use rule::UpdateRule;
