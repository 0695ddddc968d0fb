//! [`OptimizerConfig`]: which update rule, at which learning rate.
//!
//! # JSON
//! `{"rule": {"type": "adam", "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
//! "learning_rate": 0.001}`; the rule is tagged by `type` as in
//! [`UpdateRule`], the learning rate is a number or a schedule
//! ([`LearningRate`]). Unknown fields are rejected.

use serde::{Deserialize, Serialize};

use super::{LearningRate, UpdateRule};
use crate::error::{Error, Result};

/// An optimizer's full configuration. The constructors mirror TFF's
/// `tff.learning.optimizers.build_*` with their default hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// The per-variable update rule and its hyper-parameters.
    pub rule: UpdateRule,
    /// The learning rate, constant or scheduled by round.
    pub learning_rate: LearningRate,
}

impl Default for OptimizerConfig {
    /// `build_sgdm()`'s default: plain SGD at 0.01.
    fn default() -> Self {
        OptimizerConfig::sgd(LearningRate::default())
    }
}

impl OptimizerConfig {
    /// `build_sgdm(learning_rate, momentum)`: SGD, with momentum when `Some`.
    pub fn sgdm(learning_rate: impl Into<LearningRate>, momentum: Option<f32>) -> Self {
        OptimizerConfig {
            rule: UpdateRule::Sgd {
                momentum,
                nesterov: false,
            },
            learning_rate: learning_rate.into(),
        }
    }

    /// SGD with Nesterov momentum (Keras' `SGD(nesterov=True)`).
    pub fn nesterov(learning_rate: impl Into<LearningRate>, momentum: f32) -> Self {
        OptimizerConfig {
            rule: UpdateRule::Sgd {
                momentum: Some(momentum),
                nesterov: true,
            },
            learning_rate: learning_rate.into(),
        }
    }

    /// Plain SGD (`build_sgdm(learning_rate)`).
    pub fn sgd(learning_rate: impl Into<LearningRate>) -> Self {
        Self::sgdm(learning_rate, None)
    }

    /// `build_adam(learning_rate)`: betas 0.9 / 0.999, epsilon 1e-7.
    pub fn adam(learning_rate: impl Into<LearningRate>) -> Self {
        Self::with_rule(UpdateRule::adam(), learning_rate)
    }

    /// `build_adagrad(learning_rate)`: initial accumulator 0.1, epsilon 1e-7.
    pub fn adagrad(learning_rate: impl Into<LearningRate>) -> Self {
        Self::with_rule(UpdateRule::adagrad(), learning_rate)
    }

    /// `build_yogi(learning_rate)`: betas 0.9 / 0.999, epsilon 1e-3,
    /// initial preconditioner 1e-6.
    pub fn yogi(learning_rate: impl Into<LearningRate>) -> Self {
        Self::with_rule(UpdateRule::yogi(), learning_rate)
    }

    /// `build_rmsprop(learning_rate)`: decay 0.9, epsilon 1e-7.
    pub fn rmsprop(learning_rate: impl Into<LearningRate>) -> Self {
        Self::with_rule(UpdateRule::rmsprop(), learning_rate)
    }

    /// Any rule at any learning rate.
    pub fn with_rule(rule: UpdateRule, learning_rate: impl Into<LearningRate>) -> Self {
        OptimizerConfig {
            rule,
            learning_rate: learning_rate.into(),
        }
    }

    /// Checks the rule's hyper-parameters and the learning-rate schedule.
    ///
    /// # Errors
    /// [`Error::Optimizer`] naming the rule and the problem.
    pub fn validate(&self) -> Result<()> {
        self.rule.validate()?;
        self.learning_rate.validate().map_err(|e| match e {
            Error::Optimizer { detail, .. } => Error::Optimizer {
                optimizer: self.rule.name().into(),
                detail: format!("learning rate: {detail}"),
            },
            other => other,
        })
    }

    /// Parses a configuration from JSON and validates it.
    ///
    /// # Errors
    /// [`Error::Limit`] for a text over `max_message_bytes`;
    /// [`Error::Json`] for malformed JSON or unknown fields,
    /// [`Error::Optimizer`] for invalid hyper-parameters.
    pub fn from_json(json: &str) -> Result<Self> {
        crate::limits::Limits::current().check_bytes(
            "OptimizerConfig::from_json",
            "an optimizer config",
            json.len(),
        )?;
        let config: OptimizerConfig = serde_json::from_str(json).map_err(|source| Error::Json {
            what: "optimizer config".into(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as JSON.
    ///
    /// # Errors
    /// [`Error::Json`] if serialisation fails (it does not for valid configs).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|source| Error::Json {
            what: "optimizer config".into(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_mirror_tff() {
        assert_eq!(OptimizerConfig::default(), OptimizerConfig::sgd(0.01));
        assert_eq!(OptimizerConfig::adam(1e-3).rule, UpdateRule::adam());
        assert_eq!(
            OptimizerConfig::sgdm(0.1, Some(0.9)).rule.slot_inits(),
            vec![0.0]
        );
    }

    #[test]
    fn json_round_trip_and_unknown_fields() {
        let config = OptimizerConfig::yogi(LearningRate::ExponentialDecay {
            initial: 0.1,
            decay_rate: 0.9,
            decay_rounds: 5,
            staircase: true,
        });
        let json = config.to_json().unwrap();
        assert_eq!(OptimizerConfig::from_json(&json).unwrap(), config);
        let err =
            OptimizerConfig::from_json(r#"{"rule":{"type":"sgd"},"learning_rate":0.1,"lr":1}"#)
                .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = OptimizerConfig::from_json(
            r#"{"rule":{"type":"sgd","nesterov":true},"learning_rate":0.1}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("nesterov"), "{err}");
        let ok = OptimizerConfig::from_json(
            r#"{"rule":{"type":"sgd","momentum":0.9},"learning_rate":0.1}"#,
        )
        .unwrap();
        assert_eq!(ok, OptimizerConfig::sgdm(0.1, Some(0.9)));
    }
}
