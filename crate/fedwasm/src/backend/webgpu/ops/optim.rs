//! Optimizer updates in place (`kernels/optim.wgsl`): SGD (with momentum,
//! Nesterov), Adam, Adagrad, Yogi and RMSprop, dense and on the rows of a
//! sparse gradient. One thread per updated element; the slots are those of
//! [`UpdateRule::slot_inits`], in that order, as on the CPU.
//!
//! The checks are the CPU's (`backend/shape.rs`) and all run, with the
//! storage checks of every operand, before anything is recorded, so on error
//! `var` and `slots` are unchanged. Then `var` and every slot are made the
//! only owners of their buffers (copy on write: a clone taken before the
//! step keeps its values). The hyper-parameters the kernels need (`1 - beta`,
//! Adam's and Yogi's bias-corrected rate) are computed on the host in `f32`
//! exactly as the CPU computes them, and passed as `f32` bits.

use super::{bits, word};
use crate::backend::cpu::bias_corrected;
use crate::backend::shape::{optimizer_step_checks, optimizer_step_rows_checks};
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::error::Result;
use crate::gradient::RowGradient;
use crate::optim::validate::optimizer_error;
use crate::optim::UpdateRule;
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../kernels/optim.wgsl");

pub(crate) const KERNELS: &[Kernel] = &[
    Kernel::entry(SOURCE, "sgd"),
    Kernel::entry(SOURCE, "sgd_momentum"),
    Kernel::entry(SOURCE, "adam"),
    Kernel::entry(SOURCE, "yogi"),
    Kernel::entry(SOURCE, "adagrad"),
    Kernel::entry(SOURCE, "rmsprop"),
    Kernel::entry(SOURCE, "sgd_rows"),
    Kernel::entry(SOURCE, "adagrad_rows"),
];

/// A rule's kernel and its parameter words after the first two (`n`, `k`):
/// `lr, eps, c1, c2, nesterov` (see the shader's `Params`).
fn kernel_of(rule: &UpdateRule, step: u64, lr: f32) -> (&'static str, [u32; 5]) {
    match *rule {
        UpdateRule::Sgd { momentum: None, .. } => ("sgd", [bits(lr), 0, 0, 0, 0]),
        UpdateRule::Sgd {
            momentum: Some(m),
            nesterov,
        } => (
            "sgd_momentum",
            [bits(lr), 0, bits(m), 0, u32::from(nesterov)],
        ),
        UpdateRule::Adam {
            beta_1,
            beta_2,
            epsilon,
        } => (
            "adam",
            [
                bits(bias_corrected(lr, beta_1, beta_2, step)),
                bits(epsilon),
                bits(1.0 - beta_1),
                bits(1.0 - beta_2),
                0,
            ],
        ),
        UpdateRule::Yogi {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => (
            "yogi",
            [
                bits(bias_corrected(lr, beta_1, beta_2, step)),
                bits(epsilon),
                bits(1.0 - beta_1),
                bits(1.0 - beta_2),
                0,
            ],
        ),
        UpdateRule::Adagrad { epsilon, .. } => ("adagrad", [bits(lr), bits(epsilon), 0, 0, 0]),
        UpdateRule::Rmsprop { decay, epsilon } => (
            "rmsprop",
            [bits(lr), bits(epsilon), 0, bits(1.0 - decay), 0],
        ),
    }
}

/// Makes `var` and every slot the only owners of their buffers, once every
/// operand is known to be on this device.
fn make_all_unique(
    b: &WebGpuBackend,
    op: &'static str,
    var: &mut Tensor,
    slots: &mut [Tensor],
) -> Result<()> {
    b.make_unique(op, var)?;
    for slot in slots.iter_mut() {
        b.make_unique(op, slot)?;
    }
    Ok(())
}

pub(crate) fn optimizer_step(
    b: &WebGpuBackend,
    rule: &UpdateRule,
    step: u64,
    lr: f32,
    var: &mut Tensor,
    grad: &Tensor,
    slots: &mut [Tensor],
) -> Result<()> {
    const OP: &str = "optimizer_step";
    optimizer_step_checks(rule, step, lr, var, grad, slots)?;
    b.gpu(OP, grad)?;
    b.gpu(OP, var)?;
    for slot in slots.iter() {
        b.gpu(OP, slot)?;
    }
    let n = var.len();
    let (kernel, hyper) = kernel_of(rule, step, lr);
    let mut params = vec![word(OP, n)?, 0];
    params.extend_from_slice(&hyper);
    if n == 0 {
        return Ok(());
    }
    make_all_unique(b, OP, var, slots)?;
    let mut buffers = vec![b.buf(OP, var)?, b.buf(OP, grad)?];
    for slot in slots.iter() {
        buffers.push(b.buf(OP, slot)?);
    }
    b.dispatch_1d(OP, kernel, &params, &buffers, n)
}

pub(crate) fn optimizer_step_rows(
    b: &WebGpuBackend,
    rule: &UpdateRule,
    step: u64,
    lr: f32,
    var: &mut Tensor,
    grad: &RowGradient,
    slots: &mut [Tensor],
) -> Result<()> {
    const OP: &str = "optimizer_step_rows";
    optimizer_step_rows_checks(rule, step, lr, var, grad, slots)?;
    b.gpu(OP, grad.values())?;
    b.gpu(OP, var)?;
    for slot in slots.iter() {
        b.gpu(OP, slot)?;
    }
    let (kernel, hyper) = match kernel_of(rule, step, lr) {
        ("sgd", hyper) => ("sgd_rows", hyper),
        ("adagrad", hyper) => ("adagrad_rows", hyper),
        // Unreachable: sparse_exact was checked above.
        _ => {
            return Err(optimizer_error(
                rule.name(),
                "internal error: no sparse WebGPU kernel for this rule",
            ))
        }
    };
    let k = grad.shape()[1];
    let threads = grad.values().len();
    let mut params = vec![word(OP, threads)?, word(OP, k)?];
    params.extend_from_slice(&hyper);
    if threads == 0 {
        return Ok(());
    }
    make_all_unique(b, OP, var, slots)?;
    let rows = b.upload_u32(OP, grad.rows())?;
    let mut buffers = vec![b.buf(OP, var)?, b.buf(OP, grad.values())?];
    for slot in slots.iter() {
        buffers.push(b.buf(OP, slot)?);
    }
    buffers.push(&rows);
    b.dispatch_1d(OP, kernel, &params, &buffers, threads)
}
