//! Seeded variable initializers with Keras' definitions and defaults.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// How a variable starts. Externally tagged: `"zeros"`, `"glorot_uniform"`,
/// `{"uniform": {"minval": -0.05, "maxval": 0.05}}`, `{"normal": {"mean": 0, "stddev": 0.05}}`,
/// `{"constant": 0.5}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Initializer {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every element equal to the value.
    Constant(f32),
    /// Uniform in `±sqrt(6 / (fan_in + fan_out))` (Glorot and Bengio).
    GlorotUniform,
    /// Uniform in `[minval, maxval)` (Keras `RandomUniform`, default ±0.05).
    Uniform {
        /// Lower bound.
        minval: f32,
        /// Upper bound.
        maxval: f32,
    },
    /// Normal with `mean` and `stddev` (Keras `RandomNormal`, default stddev 0.05).
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
}

impl Initializer {
    /// `zeros`.
    pub fn zeros() -> Self {
        Initializer::Zeros
    }

    /// `glorot_uniform`.
    pub fn glorot() -> Self {
        Initializer::GlorotUniform
    }

    /// Keras' default `uniform` (±0.05).
    pub fn uniform() -> Self {
        Initializer::Uniform {
            minval: -0.05,
            maxval: 0.05,
        }
    }

    /// Keras' default `normal` (mean 0, stddev 0.05).
    pub fn normal() -> Self {
        Initializer::Normal {
            mean: 0.0,
            stddev: 0.05,
        }
    }

    /// Values for a variable of `shape`, drawn from `rng`.
    ///
    /// Fans follow Keras: for a kernel `[.., in, out]` the receptive field is
    /// the product of the leading dimensions; `fan_in = field * in`,
    /// `fan_out = field * out`.
    pub fn sample(&self, shape: &[usize], rng: &mut Rng) -> Vec<f32> {
        let n: usize = shape.iter().product();
        match self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::Constant(v) => vec![*v; n],
            Initializer::GlorotUniform => {
                let (fan_in, fan_out) = fans(shape);
                let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
                (0..n)
                    .map(|_| rng.uniform_range(-limit, limit) as f32)
                    .collect()
            }
            Initializer::Uniform { minval, maxval } => (0..n)
                .map(|_| rng.uniform_range(*minval as f64, *maxval as f64) as f32)
                .collect(),
            Initializer::Normal { mean, stddev } => (0..n)
                .map(|_| (*mean as f64 + *stddev as f64 * rng.normal()) as f32)
                .collect(),
        }
    }
}

fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [.., i, o] => {
            let field: usize = shape[..shape.len() - 2].iter().product();
            (field * i, field * o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_respects_limit_and_seed() {
        let shape = [3, 3, 32, 64];
        let a = Initializer::glorot().sample(&shape, &mut Rng::new(1));
        let b = Initializer::glorot().sample(&shape, &mut Rng::new(1));
        assert_eq!(a, b);
        let limit = (6.0f64 / (9.0 * 32.0 + 9.0 * 64.0)).sqrt() as f32;
        assert!(a.iter().all(|v| v.abs() <= limit));
        assert!(a.iter().any(|v| v.abs() > 0.9 * limit));
    }

    #[test]
    fn parses_keras_style_names() {
        let i: Initializer = serde_json::from_str("\"glorot_uniform\"").unwrap();
        assert_eq!(i, Initializer::GlorotUniform);
        let u: Initializer =
            serde_json::from_str(r#"{"uniform": {"minval": -1, "maxval": 1}}"#).unwrap();
        assert_eq!(
            u,
            Initializer::Uniform {
                minval: -1.0,
                maxval: 1.0
            }
        );
        assert!(serde_json::from_str::<Initializer>("\"glorot\"").is_err());
    }
}
