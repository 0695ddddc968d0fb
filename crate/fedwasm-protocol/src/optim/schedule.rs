//! Learning rates: a constant or a schedule over federated rounds.
//!
//! Schedules are indexed by the **round** number (0-based), not by local
//! steps, matching how TFF varies a client or server learning rate from round
//! to round. The formulas are Keras' (`tf.keras.optimizers.schedules`) with
//! `round` in place of `step`.
//!
//! # JSON
//! A constant is a bare number (`0.1`); a schedule is an object tagged by
//! `type`: `{"type": "exponential_decay", "initial": 0.1, "decay_rate": 0.5,
//! "decay_rounds": 10, "staircase": true}` (`staircase` defaults to `false`),
//! `{"type": "inverse_time_decay", ..same fields..}`,
//! `{"type": "piecewise_constant", "boundaries": [10, 20], "values": [0.1, 0.01, 0.001]}`
//! or `{"type": "constant", "value": 0.1}`. Unknown fields are rejected, and
//! schedules are validated as they are parsed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::validate::optimizer_error;
use crate::error::{Float, Result};

/// The learning rate of an optimizer, as a function of the federated round.
#[derive(Clone, Debug, PartialEq)]
pub enum LearningRate {
    /// The same rate every round.
    Constant(f32),
    /// `initial * decay_rate ^ (round / decay_rounds)`; with `staircase` the
    /// exponent is rounded down to a whole number.
    ExponentialDecay {
        /// Rate at round 0.
        initial: f32,
        /// Factor applied per `decay_rounds` rounds.
        decay_rate: f32,
        /// Rounds per decay period (> 0).
        decay_rounds: u64,
        /// Decay in whole periods.
        staircase: bool,
    },
    /// `initial / (1 + decay_rate * round / decay_rounds)`; with `staircase`
    /// `round / decay_rounds` is rounded down.
    InverseTimeDecay {
        /// Rate at round 0.
        initial: f32,
        /// Decay coefficient.
        decay_rate: f32,
        /// Rounds per decay period (> 0).
        decay_rounds: u64,
        /// Decay in whole periods.
        staircase: bool,
    },
    /// `values[0]` while `round <= boundaries[0]`, `values[i]` while
    /// `boundaries[i-1] < round <= boundaries[i]`, and the last value after
    /// the last boundary (Keras' `PiecewiseConstantDecay`).
    PiecewiseConstant {
        /// Strictly increasing round numbers.
        boundaries: Vec<u64>,
        /// One more value than boundaries.
        values: Vec<f32>,
    },
}

impl Default for LearningRate {
    /// TFF's `build_sgdm` default rate, 0.01.
    fn default() -> Self {
        LearningRate::Constant(0.01)
    }
}

impl From<f32> for LearningRate {
    fn from(lr: f32) -> Self {
        LearningRate::Constant(lr)
    }
}

/// Name used in error messages.
const WHAT: &str = "learning rate";

/// A rate must be finite and non-negative.
fn check_rate(name: &str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(optimizer_error(
            WHAT,
            format!("{name} = {} must be finite and non-negative", Float(value)),
        ))
    }
}

impl LearningRate {
    /// Checks the schedule: rates and decay rates finite and non-negative,
    /// `decay_rounds > 0`, boundaries strictly increasing with exactly one more
    /// value than boundaries.
    ///
    /// # Errors
    /// [`crate::Error::Optimizer`] describing the first problem found.
    pub fn validate(&self) -> Result<()> {
        match self {
            LearningRate::Constant(lr) => check_rate("constant", *lr),
            LearningRate::ExponentialDecay {
                initial,
                decay_rate,
                decay_rounds,
                ..
            }
            | LearningRate::InverseTimeDecay {
                initial,
                decay_rate,
                decay_rounds,
                ..
            } => {
                check_rate("initial", *initial)?;
                check_rate("decay_rate", *decay_rate)?;
                if *decay_rounds == 0 {
                    return Err(optimizer_error(WHAT, "decay_rounds must be at least 1"));
                }
                Ok(())
            }
            LearningRate::PiecewiseConstant { boundaries, values } => {
                if values.len() != boundaries.len() + 1 {
                    return Err(optimizer_error(
                        WHAT,
                        format!(
                            "piecewise_constant needs one more value than boundaries: {} boundaries, {} values",
                            boundaries.len(),
                            values.len()
                        ),
                    ));
                }
                if let Some(w) = boundaries.windows(2).find(|w| w[0] >= w[1]) {
                    return Err(optimizer_error(
                        WHAT,
                        format!(
                            "piecewise_constant boundaries must increase strictly: {} then {}",
                            w[0], w[1]
                        ),
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    check_rate(&format!("values[{i}]"), *v)?;
                }
                Ok(())
            }
        }
    }

    /// The rate at 0-based federated `round`.
    ///
    /// # Errors
    /// [`crate::Error::Optimizer`] if the schedule is invalid
    /// ([`LearningRate::validate`]) or the rate is not finite at this round
    /// (a decay rate above 1 overflowing).
    pub fn at(&self, round: u64) -> Result<f32> {
        self.validate()?;
        let periods = |rounds: u64, staircase: bool| {
            if staircase {
                (round / rounds) as f64
            } else {
                round as f64 / rounds as f64
            }
        };
        let lr = match self {
            LearningRate::Constant(lr) => *lr,
            LearningRate::ExponentialDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            } => {
                (*initial as f64 * (*decay_rate as f64).powf(periods(*decay_rounds, *staircase)))
                    as f32
            }
            LearningRate::InverseTimeDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            } => {
                (*initial as f64 / (1.0 + *decay_rate as f64 * periods(*decay_rounds, *staircase)))
                    as f32
            }
            LearningRate::PiecewiseConstant { boundaries, values } => {
                values[boundaries.iter().take_while(|&&b| round > b).count()]
            }
        };
        if !lr.is_finite() {
            return Err(optimizer_error(
                WHAT,
                format!(
                    "schedule {} is not finite at round {round}",
                    crate::json::to_string(self)
                ),
            ));
        }
        Ok(lr)
    }
}

/// The tagged JSON form of [`LearningRate`] (a bare number is also accepted).
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Tagged {
    Constant {
        value: f32,
    },
    ExponentialDecay {
        initial: f32,
        decay_rate: f32,
        decay_rounds: u64,
        #[serde(default)]
        staircase: bool,
    },
    InverseTimeDecay {
        initial: f32,
        decay_rate: f32,
        decay_rounds: u64,
        #[serde(default)]
        staircase: bool,
    },
    PiecewiseConstant {
        boundaries: Vec<u64>,
        values: Vec<f32>,
    },
}

impl From<Tagged> for LearningRate {
    fn from(t: Tagged) -> Self {
        match t {
            Tagged::Constant { value } => LearningRate::Constant(value),
            Tagged::ExponentialDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            } => LearningRate::ExponentialDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            },
            Tagged::InverseTimeDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            } => LearningRate::InverseTimeDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            },
            Tagged::PiecewiseConstant { boundaries, values } => {
                LearningRate::PiecewiseConstant { boundaries, values }
            }
        }
    }
}

impl Serialize for LearningRate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let tagged = match self.clone() {
            LearningRate::Constant(lr) => return s.serialize_f32(lr),
            LearningRate::ExponentialDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            } => Tagged::ExponentialDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            },
            LearningRate::InverseTimeDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            } => Tagged::InverseTimeDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            },
            LearningRate::PiecewiseConstant { boundaries, values } => {
                Tagged::PiecewiseConstant { boundaries, values }
            }
        };
        tagged.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LearningRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = LearningRate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a learning-rate schedule object")
            }
            fn visit_f64<E: serde::de::Error>(
                self,
                v: f64,
            ) -> std::result::Result<LearningRate, E> {
                Ok(LearningRate::Constant(v as f32))
            }
            fn visit_u64<E: serde::de::Error>(
                self,
                v: u64,
            ) -> std::result::Result<LearningRate, E> {
                Ok(LearningRate::Constant(v as f32))
            }
            fn visit_i64<E: serde::de::Error>(
                self,
                v: i64,
            ) -> std::result::Result<LearningRate, E> {
                Ok(LearningRate::Constant(v as f32))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<LearningRate, A::Error> {
                Tagged::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(LearningRate::from)
            }
        }
        let lr = d.deserialize_any(Visitor)?;
        lr.validate().map_err(serde::de::Error::custom)?;
        Ok(lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let lr: LearningRate = serde_json::from_str("0.1").unwrap();
        assert_eq!(lr, LearningRate::Constant(0.1));
        let lr: LearningRate = serde_json::from_str(r#"{"type":"constant","value":2}"#).unwrap();
        assert_eq!(lr, LearningRate::Constant(2.0));
        let piecewise = LearningRate::PiecewiseConstant {
            boundaries: vec![3, 7],
            values: vec![0.1, 0.01, 0.001],
        };
        let json = serde_json::to_string(&piecewise).unwrap();
        assert_eq!(
            json,
            r#"{"type":"piecewise_constant","boundaries":[3,7],"values":[0.1,0.01,0.001]}"#
        );
        assert_eq!(
            serde_json::from_str::<LearningRate>(&json).unwrap(),
            piecewise
        );
        let exp: LearningRate = serde_json::from_str(
            r#"{"type":"exponential_decay","initial":1,"decay_rate":0.5,"decay_rounds":2}"#,
        )
        .unwrap();
        assert!(serde_json::to_string(&exp)
            .unwrap()
            .contains("\"staircase\":false"));
        assert_eq!(
            serde_json::to_string(&LearningRate::Constant(0.5)).unwrap(),
            "0.5"
        );
    }

    #[test]
    fn json_rejects_unknown_fields_and_invalid_schedules() {
        let err = serde_json::from_str::<LearningRate>(r#"{"type":"constant","value":1,"x":2}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = serde_json::from_str::<LearningRate>(
            r#"{"type":"piecewise_constant","boundaries":[1],"values":[1]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("one more value"), "{err}");
        assert!(serde_json::from_str::<LearningRate>("-1").is_err());
        assert!(serde_json::from_str::<LearningRate>("\"fast\"").is_err());
    }
}
