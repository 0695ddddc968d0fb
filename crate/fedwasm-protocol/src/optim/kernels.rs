//! The update rules' elementwise arithmetic on host slices, generic over
//! [`Float`] (`f32` for training and the server, `f64` for gradient checks).
//!
//! # Data layout
//! `w` (the variable), `g` (its gradient) and every slot are flat row-major
//! slices of one length; slots come in the order of
//! [`UpdateRule::slot_inits`]:
//! * SGD with momentum: `[accumulator]`;
//! * Adam and Yogi: `[accumulator (first moment), preconditioner (second moment)]`;
//! * Adagrad: `[accumulator]`; RMSprop: `[preconditioner]`.
//!
//! The moving averages are written as TFF's implementation writes them,
//! `a + (x - a) * (1 - beta)`, which equals `beta a + (1 - beta) x` up to
//! rounding. Hyper-parameters (`f32`) are converted to `T` before use, and
//! the bias correction of Adam and Yogi is computed in `T` too.

use super::validate::optimizer_error;
use super::UpdateRule;
use crate::error::Result;

/// A float the kernels compute in.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + Default
    + std::fmt::Debug
    + 'static
{
    /// `Self` from an `f64` constant.
    fn c(x: f64) -> Self {
        Self::from_f64(x).expect("float conversion")
    }
}

impl Float for f32 {}
impl Float for f64 {}

/// One in-place update of `w` by `g` at 1-based `step` with learning rate
/// `lr` under `rule`, with `slots` in [`UpdateRule::slot_inits`] order.
/// The caller has checked the rule, the rate, the step and the lengths
/// (`fedwasm`'s backends and [`super::ServerOptimizer`] do, before anything
/// is written).
///
/// # Errors
/// [`crate::Error::Optimizer`] when the number of slots does not fit the rule.
pub fn step<T: Float>(
    rule: &UpdateRule,
    step: u64,
    lr: f32,
    w: &mut [T],
    g: &[T],
    slots: &mut [&mut [T]],
) -> Result<()> {
    let lr = T::c(lr as f64);
    match (rule, slots) {
        (UpdateRule::Sgd { momentum: None, .. }, []) => sgd(w, g, lr),
        (
            UpdateRule::Sgd {
                momentum: Some(m),
                nesterov,
            },
            [acc],
        ) => sgdm(w, g, acc, lr, T::c(*m as f64), *nesterov),
        (
            UpdateRule::Adam {
                beta_1,
                beta_2,
                epsilon,
            },
            [acc, pre],
        ) => {
            let (b1, b2) = (T::c(*beta_1 as f64), T::c(*beta_2 as f64));
            let lr_t = bias_corrected(lr, b1, b2, step);
            adaptive_moment(w, g, acc, pre, lr_t, b1, T::c(*epsilon as f64), |v, g2| {
                v + (g2 - v) * (T::one() - b2)
            })
        }
        (
            UpdateRule::Yogi {
                beta_1,
                beta_2,
                epsilon,
                ..
            },
            [acc, pre],
        ) => {
            let (b1, b2) = (T::c(*beta_1 as f64), T::c(*beta_2 as f64));
            let lr_t = bias_corrected(lr, b1, b2, step);
            adaptive_moment(w, g, acc, pre, lr_t, b1, T::c(*epsilon as f64), |v, g2| {
                v - (T::one() - b2) * sign(v - g2) * g2
            })
        }
        (UpdateRule::Adagrad { epsilon, .. }, [acc]) => {
            scaled_by_root(w, g, acc, lr, T::c(*epsilon as f64), |a, g2| a + g2)
        }
        (UpdateRule::Rmsprop { decay, epsilon }, [pre]) => {
            let d = T::c(*decay as f64);
            scaled_by_root(w, g, pre, lr, T::c(*epsilon as f64), |v, g2| {
                v + (g2 - v) * (T::one() - d)
            })
        }
        (rule, slots) => {
            return Err(optimizer_error(
                rule.name(),
                format!("no kernel for {} slot(s)", slots.len()),
            ))
        }
    }
    Ok(())
}

/// `w -= lr * g`.
pub fn sgd<T: Float>(w: &mut [T], g: &[T], lr: T) {
    for (w, &g) in w.iter_mut().zip(g) {
        *w -= lr * g;
    }
}

/// `acc = m * acc + g`, then `w -= lr * acc` or, Nesterov, `w -= lr * (g + m * acc)`.
pub fn sgdm<T: Float>(w: &mut [T], g: &[T], acc: &mut [T], lr: T, m: T, nesterov: bool) {
    for ((w, &g), a) in w.iter_mut().zip(g).zip(acc.iter_mut()) {
        *a = m * *a + g;
        *w -= if nesterov { lr * (g + m * *a) } else { lr * *a };
    }
}

/// `lr * sqrt(1 - b2^t) / (1 - b1^t)`, the bias-corrected rate of Adam and
/// Yogi (the WebGPU backend computes it here too, in `f32`, and passes it to
/// its kernel, so every backend uses the same rate).
pub fn bias_corrected<T: Float>(lr: T, b1: T, b2: T, step: u64) -> T {
    let t = T::c(step as f64);
    lr * (T::one() - b2.powf(t)).sqrt() / (T::one() - b1.powf(t))
}

/// Adam and Yogi: `acc += (g - acc) (1 - b1)`, `pre = second(pre, g^2)`,
/// `w -= lr_t * acc / (sqrt(pre) + eps)`.
#[allow(clippy::too_many_arguments)]
pub fn adaptive_moment<T: Float>(
    w: &mut [T],
    g: &[T],
    acc: &mut [T],
    pre: &mut [T],
    lr_t: T,
    b1: T,
    eps: T,
    second: impl Fn(T, T) -> T,
) {
    for (((w, &g), a), v) in w.iter_mut().zip(g).zip(acc.iter_mut()).zip(pre.iter_mut()) {
        *a = *a + (g - *a) * (T::one() - b1);
        *v = second(*v, g * g);
        *w -= lr_t * *a / (v.sqrt() + eps);
    }
}

/// Adagrad and RMSprop: `s = update(s, g^2)`, `w -= lr * g / (sqrt(s) + eps)`.
pub fn scaled_by_root<T: Float>(
    w: &mut [T],
    g: &[T],
    s: &mut [T],
    lr: T,
    eps: T,
    update: impl Fn(T, T) -> T,
) {
    for ((w, &g), s) in w.iter_mut().zip(g).zip(s.iter_mut()) {
        *s = update(*s, g * g);
        *w -= lr * g / (s.sqrt() + eps);
    }
}

/// `sign(x)` with `sign(0) = 0`, as `tf.math.sign`.
pub fn sign<T: Float>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_sgd_two_steps() {
        // w = 1, g = 0.5, lr = 0.1: w = 1 - 0.05 = 0.95, then 0.95 - 0.05 = 0.9.
        let mut w = [1.0f32];
        step(&UpdateRule::sgd(), 1, 0.1, &mut w, &[0.5], &mut []).unwrap();
        assert!((w[0] - 0.95).abs() < 1e-7);
        step(&UpdateRule::sgd(), 2, 0.1, &mut w, &[0.5], &mut []).unwrap();
        assert!((w[0] - 0.9).abs() < 1e-7);
    }

    #[test]
    fn wrong_slot_count_is_an_error() {
        let mut w = [1.0f32];
        let e = step(&UpdateRule::adam(), 1, 0.1, &mut w, &[0.5], &mut []).unwrap_err();
        assert!(e.to_string().contains("0 slot(s)"), "{e}");
        assert_eq!(w, [1.0]);
    }

    #[test]
    fn sign_of_zero_is_zero() {
        assert_eq!(sign(0.0f64), 0.0);
        assert_eq!(sign(-3.0f32), -1.0);
        assert_eq!(sign(2.0f64), 1.0);
    }
}
