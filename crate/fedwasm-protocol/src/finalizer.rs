//! The server update (TFF's `build_apply_optimizer_finalizer`).
//!
//! The aggregated model delta (mean of `client - global`, one `f64` vector
//! per global trainable variable) is handed to the server optimizer as the
//! "gradient" `-delta` (TFF's convention), so SGD at learning rate 1.0 sets
//! the model to the clients' mean. The optimizer runs on the host
//! ([`ServerOptimizer`], the CPU backend's arithmetic) with its state
//! restored from, and saved back to, the process state: no backend needed.
//!
//! A non-finite delta, or a finite one that would make a weight non-finite,
//! is rejected: the model and the optimizer state stay as they were and the
//! round reports `update_non_finite = 1`. The round counter advances either way.

use crate::error::{Error, Result};
use crate::model_weights::ModelWeights;
use crate::optim::{OptimizerConfig, ServerOptimizer};
use crate::state::FinalizerState;

/// What the finalizer produced.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalizerOutput {
    /// The new global weights (the old ones when rejected).
    pub weights: ModelWeights,
    /// The new finalizer state.
    pub state: FinalizerState,
    /// True when the update was rejected as non-finite.
    pub update_non_finite: bool,
}

/// Applies `delta` to `weights` with the server optimizer (see the module docs).
///
/// # Errors
/// [`Error::StateNotAssignable`] when `state` has no optimizer state or one
/// for other variables; [`Error::Shape`] when `delta` does not match the
/// trainable weights; [`Error::Optimizer`] for an invalid configuration.
pub fn apply_server_update(
    config: &OptimizerConfig,
    weights: &ModelWeights,
    state: &FinalizerState,
    delta: &[Vec<f64>],
) -> Result<FinalizerOutput> {
    const OP: &str = "apply_server_update";
    let saved = state
        .server_optimizer
        .clone()
        .ok_or_else(|| Error::StateNotAssignable {
            op: OP,
            detail: "the finalizer state has no server optimizer state".into(),
        })?;
    let lens: Vec<usize> = weights.trainable.iter().map(|v| v.data.len()).collect();
    let got: Vec<usize> = delta.iter().map(Vec::len).collect();
    if lens != got {
        return Err(Error::shape(OP, lens, got));
    }
    let rejected = || FinalizerOutput {
        weights: weights.clone(),
        state: FinalizerState {
            round: state.round + 1,
            server_optimizer: state.server_optimizer.clone(),
        },
        update_non_finite: true,
    };
    // The "gradient" is -delta, in f32 like the weights.
    let grads: Vec<Vec<f32>> = delta
        .iter()
        .map(|d| d.iter().map(|&x| -(x as f32)).collect())
        .collect();
    if grads.iter().flatten().any(|g| !g.is_finite()) {
        return Ok(rejected());
    }
    let mut opt = ServerOptimizer::from_state(config.clone(), saved)?;
    opt.set_round(state.round);
    let mut new = weights.clone();
    {
        let mut vars: Vec<&mut [f32]> = new
            .trainable
            .iter_mut()
            .map(|v| v.data.as_mut_slice())
            .collect();
        let grad_refs: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
        opt.apply(&mut vars, &grad_refs)?;
    }
    if !new.is_finite() {
        return Ok(rejected());
    }
    Ok(FinalizerOutput {
        weights: new,
        state: FinalizerState {
            round: state.round + 1,
            server_optimizer: Some(opt.state()),
        },
        update_non_finite: false,
    })
}
