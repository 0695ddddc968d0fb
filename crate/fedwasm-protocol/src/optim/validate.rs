//! Hyper-parameter checks for [`UpdateRule`]s and learning rates.
//!
//! Kept apart from the rule definitions so configuration stays plain data; the
//! backends' kernels, the optimizers and [`super::kernels`] call these before updating
//! anything, so a bad configuration never touches a weight.

use super::UpdateRule;
use crate::error::{Error, Float, Result};

/// An [`Error::Optimizer`] for `rule`.
pub fn optimizer_error(optimizer: &str, detail: impl Into<String>) -> Error {
    Error::Optimizer {
        optimizer: optimizer.to_string(),
        detail: detail.into(),
    }
}

/// `value` must be finite and in `[lo, hi]` (or `[lo, hi)` when `hi_open`).
fn check_range(
    optimizer: &str,
    name: &str,
    value: f32,
    lo: f32,
    hi: f32,
    hi_open: bool,
) -> Result<()> {
    let ok = value.is_finite() && value >= lo && if hi_open { value < hi } else { value <= hi };
    if ok {
        Ok(())
    } else {
        let close = if hi_open { ")" } else { "]" };
        Err(optimizer_error(
            optimizer,
            format!(
                "{name} = {} is outside [{}, {}{close}",
                Float(value),
                Float(lo),
                Float(hi)
            ),
        ))
    }
}

/// `value` must be finite and non-negative.
fn check_non_negative(optimizer: &str, name: &str, value: f32) -> Result<()> {
    check_range(optimizer, name, value, 0.0, f32::INFINITY, true)
}

impl UpdateRule {
    /// Checks the hyper-parameters: momenta and decays in `[0, 1]` (Adam's and
    /// Yogi's betas in `[0, 1)` so the bias correction is defined), epsilons and
    /// initial slot values finite and non-negative, Nesterov only with momentum.
    ///
    /// # Errors
    /// [`Error::Optimizer`] naming the rule and the offending parameter.
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        match *self {
            UpdateRule::Sgd { momentum, nesterov } => match momentum {
                None if nesterov => Err(optimizer_error(name, "nesterov = true needs a momentum")),
                None => Ok(()),
                Some(m) => check_range(name, "momentum", m, 0.0, 1.0, false),
            },
            UpdateRule::Adam {
                beta_1,
                beta_2,
                epsilon,
            } => {
                check_range(name, "beta_1", beta_1, 0.0, 1.0, true)?;
                check_range(name, "beta_2", beta_2, 0.0, 1.0, true)?;
                check_non_negative(name, "epsilon", epsilon)
            }
            UpdateRule::Adagrad {
                initial_accumulator_value,
                epsilon,
            } => {
                check_non_negative(name, "initial_accumulator_value", initial_accumulator_value)?;
                check_non_negative(name, "epsilon", epsilon)
            }
            UpdateRule::Yogi {
                beta_1,
                beta_2,
                epsilon,
                initial_preconditioner_value,
            } => {
                check_range(name, "beta_1", beta_1, 0.0, 1.0, true)?;
                check_range(name, "beta_2", beta_2, 0.0, 1.0, true)?;
                check_non_negative(name, "epsilon", epsilon)?;
                check_non_negative(
                    name,
                    "initial_preconditioner_value",
                    initial_preconditioner_value,
                )
            }
            UpdateRule::Rmsprop { decay, epsilon } => {
                check_range(name, "decay", decay, 0.0, 1.0, false)?;
                check_non_negative(name, "epsilon", epsilon)
            }
        }
    }
}

/// A learning rate must be finite and non-negative.
///
/// # Errors
/// [`Error::Optimizer`] naming `optimizer`.
pub fn check_learning_rate(optimizer: &str, lr: f32) -> Result<()> {
    check_non_negative(optimizer, "learning rate", lr)
}

/// The rule, learning rate, step and slot count checks of one update step
/// (every backend's kernels and [`super::ServerOptimizer`] call it before
/// writing anything).
///
/// # Errors
/// [`Error::Optimizer`] for invalid hyper-parameters, a negative or
/// non-finite `lr`, `step == 0`, or a slot count other than
/// `rule.slot_inits().len()`.
pub fn check_step(rule: &UpdateRule, step: u64, lr: f32, num_slots: usize) -> Result<()> {
    let name = rule.name();
    rule.validate()?;
    check_learning_rate(name, lr)?;
    if step == 0 {
        return Err(optimizer_error(name, "steps are 1-based; got step 0"));
    }
    let expected = rule.slot_inits().len();
    if num_slots != expected {
        return Err(optimizer_error(
            name,
            format!("expects {expected} slot(s) per variable, got {num_slots}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        for rule in [
            UpdateRule::sgd(),
            UpdateRule::adam(),
            UpdateRule::adagrad(),
            UpdateRule::yogi(),
            UpdateRule::rmsprop(),
        ] {
            rule.validate().unwrap();
        }
    }

    #[test]
    fn rejects_bad_hyper_parameters() {
        let nesterov_alone = UpdateRule::Sgd {
            momentum: None,
            nesterov: true,
        };
        let err = nesterov_alone.validate().unwrap_err().to_string();
        assert!(err.contains("nesterov"), "{err}");
        let bad_momentum = UpdateRule::Sgd {
            momentum: Some(-0.5),
            nesterov: false,
        };
        assert!(bad_momentum
            .validate()
            .unwrap_err()
            .to_string()
            .contains("momentum"));
        let beta_one = UpdateRule::Adam {
            beta_1: 1.0,
            beta_2: 0.999,
            epsilon: 1e-7,
        };
        assert!(beta_one
            .validate()
            .unwrap_err()
            .to_string()
            .contains("beta_1"));
        let nan_eps = UpdateRule::Rmsprop {
            decay: 0.9,
            epsilon: f32::NAN,
        };
        assert!(nan_eps
            .validate()
            .unwrap_err()
            .to_string()
            .contains("epsilon"));
        assert!(check_learning_rate("sgd", -0.1).is_err());
        assert!(check_learning_rate("sgd", f32::INFINITY).is_err());
        check_learning_rate("sgd", 0.0).unwrap();
    }
}
