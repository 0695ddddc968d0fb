//! Update rules: the per-variable arithmetic of each optimizer, with TFF's defaults.
//!
//! A rule is pure configuration; the arithmetic runs on a backend
//! (`fedwasm::backend::Backend::optimizer_step` on the client; [`super::kernels`] on the host) so weights and optimizer state
//! stay wherever the backend keeps them. Each rule keeps `slot_inits().len()`
//! state tensors ("slots") per variable, shaped like the variable.

use serde::{Deserialize, Serialize};

/// One optimizer's update rule and hyper-parameters (learning rate aside).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum UpdateRule {
    /// `tff.learning.optimizers.build_sgdm`: with momentum `m`,
    /// `acc = m * acc + g; w -= lr * acc`; Nesterov uses `w -= lr * (g + m * acc)`.
    /// Without momentum, `w -= lr * g` and no slot.
    Sgd {
        /// Momentum coefficient; `None` (TFF's default) means plain SGD.
        #[serde(default)]
        momentum: Option<f32>,
        /// Nesterov momentum (needs `momentum`).
        #[serde(default)]
        nesterov: bool,
    },
    /// `build_adam`: `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    /// w -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)`.
    Adam {
        /// First-moment decay (0.9).
        beta_1: f32,
        /// Second-moment decay (0.999).
        beta_2: f32,
        /// Denominator epsilon (1e-7).
        epsilon: f32,
    },
    /// `build_adagrad`: `acc += g^2; w -= lr * g / (sqrt(acc) + eps)`.
    Adagrad {
        /// Initial accumulator value (0.1).
        initial_accumulator_value: f32,
        /// Denominator epsilon (1e-7).
        epsilon: f32,
    },
    /// `build_yogi`: like Adam but `v -= (1-b2) * sign(v - g^2) * g^2`.
    Yogi {
        /// First-moment decay (0.9).
        beta_1: f32,
        /// Second-moment decay (0.999).
        beta_2: f32,
        /// Denominator epsilon (1e-3).
        epsilon: f32,
        /// Initial second-moment value (1e-6).
        initial_preconditioner_value: f32,
    },
    /// `build_rmsprop`: `v = d v + (1-d) g^2; w -= lr * g / (sqrt(v) + eps)`.
    Rmsprop {
        /// Decay (0.9).
        decay: f32,
        /// Denominator epsilon (1e-7).
        epsilon: f32,
    },
}

impl UpdateRule {
    /// Plain SGD (TFF's `build_sgdm` default: no momentum).
    pub fn sgd() -> Self {
        UpdateRule::Sgd {
            momentum: None,
            nesterov: false,
        }
    }

    /// Adam with TFF's defaults.
    pub fn adam() -> Self {
        UpdateRule::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// Adagrad with TFF's defaults.
    pub fn adagrad() -> Self {
        UpdateRule::Adagrad {
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
        }
    }

    /// Yogi with TFF's defaults.
    pub fn yogi() -> Self {
        UpdateRule::Yogi {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-3,
            initial_preconditioner_value: 1e-6,
        }
    }

    /// RMSprop with TFF's defaults.
    pub fn rmsprop() -> Self {
        UpdateRule::Rmsprop {
            decay: 0.9,
            epsilon: 1e-7,
        }
    }

    /// Short lowercase name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            UpdateRule::Sgd { .. } => "sgd",
            UpdateRule::Adam { .. } => "adam",
            UpdateRule::Adagrad { .. } => "adagrad",
            UpdateRule::Yogi { .. } => "yogi",
            UpdateRule::Rmsprop { .. } => "rmsprop",
        }
    }

    /// Initial value of each state slot (one entry per slot).
    pub fn slot_inits(&self) -> Vec<f32> {
        match self {
            UpdateRule::Sgd { momentum: None, .. } => vec![],
            UpdateRule::Sgd {
                momentum: Some(_), ..
            } => vec![0.0],
            UpdateRule::Adam { .. } => vec![0.0, 0.0],
            UpdateRule::Adagrad {
                initial_accumulator_value,
                ..
            } => vec![*initial_accumulator_value],
            UpdateRule::Yogi {
                initial_preconditioner_value,
                ..
            } => vec![0.0, *initial_preconditioner_value],
            UpdateRule::Rmsprop { .. } => vec![0.0],
        }
    }

    /// True when updating only the rows with a nonzero gradient gives exactly
    /// the dense update: a zero gradient must leave the variable and every slot
    /// unchanged, bit for bit.
    ///
    /// * Plain SGD: `w - lr * 0 = w`. Exact.
    /// * Adagrad: `acc + 0 = acc` and `w - lr * 0 / (sqrt(acc) + eps) = w`,
    ///   provided the denominator cannot be zero (`acc` starts at
    ///   `initial_accumulator_value` and only grows); with both it and
    ///   `epsilon` zero, the dense update gives `0 / 0 = NaN` in untouched
    ///   rows, so the sparse one would differ. Exact when either is positive.
    /// * SGD with momentum, Adam, Yogi, RMSprop: their slots decay (and the
    ///   weights keep moving) on every step, gradient or not. Not exact.
    pub fn sparse_exact(&self) -> bool {
        match self {
            UpdateRule::Sgd { momentum: None, .. } => true,
            UpdateRule::Adagrad {
                initial_accumulator_value,
                epsilon,
            } => *initial_accumulator_value > 0.0 || *epsilon > 0.0,
            UpdateRule::Sgd {
                momentum: Some(_), ..
            }
            | UpdateRule::Adam { .. }
            | UpdateRule::Yogi { .. }
            | UpdateRule::Rmsprop { .. } => false,
        }
    }
}
