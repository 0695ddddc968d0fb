//! Optimizer steps on host tensors: the checks, then the update rules'
//! arithmetic from [`fedwasm_protocol::optim::kernels`] (the server
//! optimizer runs the very same code, so both give the same bits). The slot
//! order and the rules' formulas are documented there.

use fedwasm_protocol::optim::kernels::{self, scaled_by_root, sgd};

use super::{host, host_mut, Real};
use crate::backend::shape::{optimizer_step_checks, optimizer_step_rows_checks};
use crate::error::Result;
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
    let mut slots: Vec<&mut [T]> = slots
        .iter_mut()
        .map(|t| host_mut::<T>(t, OP))
        .collect::<Result<_>>()?;
    kernels::step(rule, step, lr, w, g, &mut slots)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

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
}
