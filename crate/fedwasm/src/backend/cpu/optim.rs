//! Optimizer update kernels (one function per [`UpdateRule`]).
//!
//! # Data layout
//! `var`, `grad` and every slot are host tensors of one shape and one
//! precision (`T`); the update is elementwise over their flat buffers. Slots
//! come in the order of [`UpdateRule::slot_inits`]:
//! * SGD with momentum: `[accumulator]`;
//! * Adam and Yogi: `[accumulator (first moment), preconditioner (second moment)]`;
//! * Adagrad: `[accumulator]`; RMSprop: `[preconditioner]`.
//!
//! The moving averages are written as TFF's implementation writes them,
//! `a + (x - a) * (1 - beta)`, which equals `beta a + (1 - beta) x` up to rounding.
//! Hyper-parameters (`f32`) are converted to `T` before use, and the bias
//! correction of Adam and Yogi is computed in `T` too.

use super::{host, host_mut, Real};
use crate::backend::shape::{optimizer_step_checks, optimizer_step_rows_checks};
use crate::error::{Error, Result};
use crate::gradient::RowGradient;
use crate::optim::validate::optimizer_error;
use crate::optim::UpdateRule;
use crate::tensor::Tensor;

const OP: &str = "optimizer_step";

/// One in-place update step at 1-based `step` with learning rate `lr`.
///
/// # Errors
/// * [`Error::Optimizer`] for invalid hyper-parameters ([`UpdateRule::validate`]),
///   a negative or non-finite `lr`, `step == 0`, or a slot count other than
///   `rule.slot_inits().len()`;
/// * [`Error::Shape`] when `grad` or a slot is not shaped like `var`;
/// * [`Error::Storage`] when an operand is not a host `T` tensor.
///
/// Everything is checked before the first element is written, so on error
/// `var` and `slots` are unchanged.
pub fn step<T: Real>(
    rule: &UpdateRule,
    step: u64,
    lr: f32,
    var: &mut Tensor,
    grad: &Tensor,
    slots: &mut [Tensor],
) -> Result<()> {
    optimizer_step_checks(rule, step, lr, var, grad, slots)?;

    let g = host::<T>(grad, OP)?;
    let w = host_mut::<T>(var, OP)?;
    let lr = T::c(lr as f64);
    match (rule, slots) {
        (UpdateRule::Sgd { momentum: None, .. }, []) => sgd(w, g, lr),
        (
            UpdateRule::Sgd {
                momentum: Some(m),
                nesterov,
            },
            [acc],
        ) => sgdm(
            w,
            g,
            host_mut::<T>(acc, OP)?,
            lr,
            T::c(*m as f64),
            *nesterov,
        ),
        (
            UpdateRule::Adam {
                beta_1,
                beta_2,
                epsilon,
            },
            [acc, pre],
        ) => {
            let (acc, pre) = (host_mut::<T>(acc, OP)?, host_mut::<T>(pre, OP)?);
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
            let (acc, pre) = (host_mut::<T>(acc, OP)?, host_mut::<T>(pre, OP)?);
            let (b1, b2) = (T::c(*beta_1 as f64), T::c(*beta_2 as f64));
            let lr_t = bias_corrected(lr, b1, b2, step);
            adaptive_moment(w, g, acc, pre, lr_t, b1, T::c(*epsilon as f64), |v, g2| {
                v - (T::one() - b2) * sign(v - g2) * g2
            })
        }
        (UpdateRule::Adagrad { epsilon, .. }, [acc]) => scaled_by_root(
            w,
            g,
            host_mut::<T>(acc, OP)?,
            lr,
            T::c(*epsilon as f64),
            |a, g2| a + g2,
        ),
        (UpdateRule::Rmsprop { decay, epsilon }, [pre]) => {
            let d = T::c(*decay as f64);
            scaled_by_root(
                w,
                g,
                host_mut::<T>(pre, OP)?,
                lr,
                T::c(*epsilon as f64),
                |v, g2| v + (g2 - v) * (T::one() - d),
            )
        }
        // Unreachable: the slot count was checked against `slot_inits` above.
        (rule, slots) => {
            return Err(Error::Optimizer {
                optimizer: rule.name().into(),
                detail: format!("internal error: no kernel for {} slot(s)", slots.len()),
            })
        }
    }
    Ok(())
}

/// [`step`] for a gradient that is zero outside `grad.rows()`: only those
/// rows of `var` and the slots change. The rows run through the very same
/// elementwise kernels as the dense update, so each updated element is
/// bit-for-bit what [`step`] computes from the dense gradient.
///
/// # Errors
/// As [`step`], plus [`Error::Optimizer`] for a rule that is not
/// [`UpdateRule::sparse_exact`], and [`Error::Shape`] when `var` is not the
/// gradient's `[num_rows, k]`. All checked before anything is written.
pub fn step_rows<T: Real>(
    rule: &UpdateRule,
    step: u64,
    lr: f32,
    var: &mut Tensor,
    grad: &RowGradient,
    slots: &mut [Tensor],
) -> Result<()> {
    const OP: &str = "optimizer_step_rows";
    optimizer_step_rows_checks(rule, step, lr, var, grad, slots)?;
    let k = grad.shape()[1];
    let g = host::<T>(grad.values(), OP)?;
    let w = host_mut::<T>(var, OP)?;
    let lr = T::c(lr as f64);
    let rows = grad
        .rows()
        .iter()
        .map(|&r| r as usize * k..(r as usize + 1) * k);
    match (rule, slots) {
        (UpdateRule::Sgd { momentum: None, .. }, []) => {
            for (j, r) in rows.enumerate() {
                sgd(&mut w[r], &g[j * k..(j + 1) * k], lr);
            }
        }
        (UpdateRule::Adagrad { epsilon, .. }, [acc]) => {
            let acc = host_mut::<T>(acc, OP)?;
            let eps = T::c(*epsilon as f64);
            for (j, r) in rows.enumerate() {
                scaled_by_root(
                    &mut w[r.clone()],
                    &g[j * k..(j + 1) * k],
                    &mut acc[r],
                    lr,
                    eps,
                    |a, g2| a + g2,
                );
            }
        }
        // Unreachable: sparse_exact and the slot count were checked above.
        (rule, slots) => {
            return Err(optimizer_error(
                rule.name(),
                format!(
                    "internal error: no sparse kernel for {} slot(s)",
                    slots.len()
                ),
            ))
        }
    }
    Ok(())
}

/// `w -= lr * g`.
fn sgd<T: Real>(w: &mut [T], g: &[T], lr: T) {
    for (w, &g) in w.iter_mut().zip(g) {
        *w -= lr * g;
    }
}

/// `acc = m * acc + g`, then `w -= lr * acc` or, Nesterov, `w -= lr * (g + m * acc)`.
fn sgdm<T: Real>(w: &mut [T], g: &[T], acc: &mut [T], lr: T, m: T, nesterov: bool) {
    for ((w, &g), a) in w.iter_mut().zip(g).zip(acc.iter_mut()) {
        *a = m * *a + g;
        *w -= if nesterov { lr * (g + m * *a) } else { lr * *a };
    }
}

/// `lr * sqrt(1 - b2^t) / (1 - b1^t)`, the bias-corrected rate of Adam and
/// Yogi (the WebGPU backend computes it here too, in `f32`, and passes it to
/// its kernel, so both backends use the same rate).
pub(crate) fn bias_corrected<T: Real>(lr: T, b1: T, b2: T, step: u64) -> T {
    let t = T::c(step as f64);
    lr * (T::one() - b2.powf(t)).sqrt() / (T::one() - b1.powf(t))
}

/// Adam and Yogi: `acc += (g - acc) (1 - b1)`, `pre = second(pre, g^2)`,
/// `w -= lr_t * acc / (sqrt(pre) + eps)`.
#[allow(clippy::too_many_arguments)]
fn adaptive_moment<T: Real>(
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
fn scaled_by_root<T: Real>(
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
fn sign<T: Real>(x: T) -> T {
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

    fn t32(v: &[f32]) -> Tensor {
        Tensor::new(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn plain_sgd_two_steps() {
        // w = 1, g = 0.5, lr = 0.1: w = 1 - 0.05 = 0.95, then 0.95 - 0.05 = 0.9.
        let mut w = t32(&[1.0]);
        let g = t32(&[0.5]);
        step::<f32>(&UpdateRule::sgd(), 1, 0.1, &mut w, &g, &mut []).unwrap();
        assert!((w.get(0) - 0.95).abs() < 1e-7);
        step::<f32>(&UpdateRule::sgd(), 2, 0.1, &mut w, &g, &mut []).unwrap();
        assert!((w.get(0) - 0.9).abs() < 1e-7);
    }

    #[test]
    fn errors_leave_state_untouched() {
        let rule = UpdateRule::adam();
        let mut w = t32(&[1.0, 2.0]);
        let g = t32(&[0.5, 0.5]);
        let mut slots = vec![t32(&[0.0, 0.0]), t32(&[0.0])];
        let err = step::<f32>(&rule, 1, 0.1, &mut w, &g, &mut slots).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        let err = step::<f32>(&rule, 1, 0.1, &mut w, &g, &mut slots[..1]).unwrap_err();
        assert!(err.to_string().contains("2 slot(s)"), "{err}");
        let mut slots = vec![
            t32(&[0.0, 0.0]),
            Tensor::from_f64(&[2], vec![0.0; 2]).unwrap(),
        ];
        let err = step::<f32>(&rule, 1, 0.1, &mut w, &g, &mut slots).unwrap_err();
        assert!(matches!(err, Error::Storage { .. }), "{err}");
        assert!(step::<f32>(&rule, 0, 0.1, &mut w, &g, &mut slots).is_err());
        assert!(step::<f32>(&rule, 1, -0.1, &mut w, &g, &mut slots).is_err());
        assert_eq!(w.as_f32().unwrap(), &[1.0, 2.0]);
        assert_eq!(slots[0].as_f32().unwrap(), &[0.0, 0.0]);
    }

    #[test]
    fn sign_of_zero_is_zero() {
        assert_eq!(sign(0.0f64), 0.0);
        assert_eq!(sign(-3.0f32), -1.0);
        assert_eq!(sign(2.0f64), 1.0);
    }
}
