//! Softmax, the losses (fused softmax + cross-entropy, cross-entropy on
//! probabilities, mean squared error) and the metric reductions
//! (`kernels/loss.wgsl`).
//!
//! Row operations give each row a power-of-two number of threads (its
//! length rounded up, at most a workgroup) that combine by a tree in
//! workgroup memory. Totals over a batch (the losses, the metrics) take a
//! second pass: per-row or per-workgroup partial results, then one
//! workgroup adding them in a fixed order. No atomics, so every result is
//! deterministic for a given shape.
//!
//! Class labels are checked as on the CPU (whole numbers in `0..classes`),
//! on the host copy that uploaded tensors keep; the kernels then read them
//! as `f32` and convert.

use super::{bits, host_indices, word};
use crate::backend::cpu::PROB_EPS;
use crate::backend::shape::{class_dims, last_axis_rows, same_len, same_shape};
use crate::backend::webgpu::backend::WORKGROUP_1D;
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::pool::DeviceBuffer;
use crate::backend::webgpu::WebGpuBackend;
use crate::backend::LossOutput;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../kernels/loss.wgsl");

pub(crate) const KERNELS: &[Kernel] = &[
    Kernel::entry(SOURCE, "softmax"),
    Kernel::entry(SOURCE, "softmax_backward"),
    Kernel::entry(SOURCE, "softmax_cross_entropy"),
    Kernel::entry(SOURCE, "count_correct"),
    Kernel::entry(SOURCE, "sparse_cross_entropy"),
    Kernel::entry(SOURCE, "loss_mse_partial"),
    Kernel::entry(SOURCE, "loss_sq_err_partial"),
    Kernel::entry(SOURCE, "loss_within_partial"),
    Kernel::entry(SOURCE, "loss_add_count_finite"),
    Kernel::entry(SOURCE, "loss_final_sum"),
    Kernel::entry(SOURCE, "loss_final_count"),
];

/// The parameter block of `loss.wgsl`: `n`, `cols`, `lanes` and three `f32`s.
fn params(op: &'static str, n: usize, cols: usize, lanes: usize, f: [f32; 3]) -> Result<[u32; 6]> {
    Ok([
        word(op, n)?,
        word(op, cols)?,
        word(op, lanes)?,
        bits(f[0]),
        bits(f[1]),
        bits(f[2]),
    ])
}

/// Threads per row of a row kernel: the row length rounded up to a power of
/// two, at most one workgroup.
fn lanes_for(cols: usize) -> usize {
    cols.max(1).next_power_of_two().min(WORKGROUP_1D)
}

/// Records a row kernel over `rows` rows of `cols` (see the module docs).
fn dispatch_rows(
    b: &WebGpuBackend,
    op: &'static str,
    kernel: &'static str,
    (rows, cols): (usize, usize),
    f: [f32; 3],
    buffers: &[&DeviceBuffer],
) -> Result<()> {
    let lanes = lanes_for(cols);
    let groups = rows.div_ceil(WORKGROUP_1D / lanes);
    b.dispatch_1d(
        op,
        kernel,
        &params(op, rows, cols, lanes, f)?,
        buffers,
        groups * WORKGROUP_1D,
    )
}

/// `[1]`: `scale` times the sum of the first `n` elements of `partial`
/// (`f32`), or their sum as a count when `count` (`u32` partials), in one
/// workgroup.
fn finish(
    b: &WebGpuBackend,
    op: &'static str,
    partial: &Tensor,
    n: usize,
    scale: f32,
    count: bool,
) -> Result<Tensor> {
    let out = b.alloc(op, &[1])?;
    let kernel = if count {
        "loss_final_count"
    } else {
        "loss_final_sum"
    };
    b.dispatch(
        op,
        kernel,
        &params(op, n, 0, 0, [scale, 0.0, 0.0])?,
        &[b.buf(op, partial)?, b.buf(op, &out)?],
        [1, 1, 1],
    )?;
    Ok(out)
}

/// Checks `labels` as the CPU does (whole numbers in `0..classes`) on the
/// host copy of an uploaded tensor.
fn check_labels(
    b: &WebGpuBackend,
    op: &'static str,
    labels: &Tensor,
    classes: usize,
) -> Result<()> {
    host_indices(b, op, labels, classes, "labels").map(drop)
}

/// `1 / max(n, 1)` in `f32`, as the CPU computes it.
fn inv(n: usize) -> f32 {
    1.0 / n.max(1) as f32
}

pub(crate) fn softmax(b: &WebGpuBackend, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmax";
    let dims = last_axis_rows(OP, x)?;
    let xb = b.buf(OP, x)?;
    let out = b.alloc(OP, x.shape())?;
    dispatch_rows(b, OP, "softmax", dims, [0.0; 3], &[xb, b.buf(OP, &out)?])?;
    Ok(out)
}

pub(crate) fn softmax_backward(b: &WebGpuBackend, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmax_backward";
    same_shape(OP, y, dy)?;
    let dims = last_axis_rows(OP, y)?;
    let (yb, db) = (b.buf(OP, y)?, b.buf(OP, dy)?);
    let out = b.alloc(OP, y.shape())?;
    dispatch_rows(
        b,
        OP,
        "softmax_backward",
        dims,
        [0.0; 3],
        &[yb, db, b.buf(OP, &out)?],
    )?;
    Ok(out)
}

pub(crate) fn sparse_cross_entropy(
    b: &WebGpuBackend,
    probs: &Tensor,
    labels: &Tensor,
) -> Result<LossOutput> {
    const OP: &str = "sparse_cross_entropy";
    let (n, c) = class_dims(OP, probs, labels)?;
    let pb = b.buf(OP, probs)?;
    check_labels(b, OP, labels, c)?;
    let grad = b.alloc(OP, probs.shape())?;
    let row_loss = b.alloc(OP, &[n])?;
    let clip = [PROB_EPS as f32, (1.0 - PROB_EPS) as f32];
    b.dispatch_1d(
        OP,
        "sparse_cross_entropy",
        &params(OP, probs.len(), c, 0, [inv(n), clip[0], clip[1]])?,
        &[
            pb,
            b.buf(OP, labels)?,
            b.buf(OP, &grad)?,
            b.buf(OP, &row_loss)?,
        ],
        probs.len(),
    )?;
    let loss = finish(b, OP, &row_loss, n, inv(n), false)?;
    Ok(LossOutput { loss, grad })
}

pub(crate) fn softmax_cross_entropy(
    b: &WebGpuBackend,
    logits: &Tensor,
    labels: &Tensor,
) -> Result<LossOutput> {
    const OP: &str = "softmax_cross_entropy";
    let (n, c) = class_dims(OP, logits, labels)?;
    let zb = b.buf(OP, logits)?;
    check_labels(b, OP, labels, c)?;
    let grad = b.alloc(OP, logits.shape())?;
    let row_loss = b.alloc(OP, &[n])?;
    dispatch_rows(
        b,
        OP,
        "softmax_cross_entropy",
        (n, c),
        [inv(n), 0.0, 0.0],
        &[
            zb,
            b.buf(OP, labels)?,
            b.buf(OP, &grad)?,
            b.buf(OP, &row_loss)?,
        ],
    )?;
    let loss = finish(b, OP, &row_loss, n, inv(n), false)?;
    Ok(LossOutput { loss, grad })
}

pub(crate) fn mean_squared_error(
    b: &WebGpuBackend,
    pred: &Tensor,
    target: &Tensor,
) -> Result<LossOutput> {
    const OP: &str = "mean_squared_error";
    let n = same_len(OP, pred, target)?;
    let (pb, tb) = (b.buf(OP, pred)?, b.buf(OP, target)?);
    let groups = n.div_ceil(WORKGROUP_1D);
    let grad = b.alloc(OP, pred.shape())?;
    let partial = b.alloc(OP, &[groups])?;
    b.dispatch_1d(
        OP,
        "loss_mse_partial",
        &params(OP, n, 0, 0, [inv(n), 0.0, 0.0])?,
        &[pb, tb, b.buf(OP, &grad)?, b.buf(OP, &partial)?],
        n,
    )?;
    let loss = finish(b, OP, &partial, groups, inv(n), false)?;
    Ok(LossOutput { loss, grad })
}

pub(crate) fn count_correct(b: &WebGpuBackend, scores: &Tensor, labels: &Tensor) -> Result<Tensor> {
    const OP: &str = "count_correct";
    let (n, c) = class_dims(OP, scores, labels)?;
    let sb = b.buf(OP, scores)?;
    check_labels(b, OP, labels, c)?;
    let hits = b.alloc(OP, &[n])?;
    dispatch_rows(
        b,
        OP,
        "count_correct",
        (n, c),
        [0.0; 3],
        &[sb, b.buf(OP, labels)?, b.buf(OP, &hits)?],
    )?;
    finish(b, OP, &hits, n, 1.0, true)
}

/// Per-workgroup partials of `kernel` over `pred` and `target`, then their total.
fn flat_total(
    b: &WebGpuBackend,
    op: &'static str,
    kernel: &'static str,
    pred: &Tensor,
    target: &Tensor,
    f0: f32,
    count: bool,
) -> Result<Tensor> {
    let n = same_len(op, pred, target)?;
    let (pb, tb) = (b.buf(op, pred)?, b.buf(op, target)?);
    let groups = n.div_ceil(WORKGROUP_1D);
    let partial = b.alloc(op, &[groups])?;
    b.dispatch_1d(
        op,
        kernel,
        &params(op, n, 0, 0, [f0, 0.0, 0.0])?,
        &[pb, tb, b.buf(op, &partial)?],
        n,
    )?;
    finish(b, op, &partial, groups, 1.0, count)
}

pub(crate) fn count_within(
    b: &WebGpuBackend,
    pred: &Tensor,
    target: &Tensor,
    tol: f32,
) -> Result<Tensor> {
    flat_total(
        b,
        "count_within",
        "loss_within_partial",
        pred,
        target,
        tol,
        true,
    )
}

/// `count[0] +=` the finite elements of `x`, from their bits: one
/// workgroup, in place (nothing allocated).
pub(crate) fn add_count_finite(b: &WebGpuBackend, count: &mut Tensor, x: &Tensor) -> Result<()> {
    const OP: &str = "add_count_finite";
    if count.len() != 1 {
        return Err(Error::shape(OP, [1], count.shape()));
    }
    let xb = b.buf(OP, x)?;
    b.make_unique(OP, count)?;
    b.dispatch(
        OP,
        "loss_add_count_finite",
        &params(OP, x.len(), 0, 0, [0.0; 3])?,
        &[xb, b.buf(OP, count)?],
        [1, 1, 1],
    )
}

pub(crate) fn squared_error_sum(
    b: &WebGpuBackend,
    pred: &Tensor,
    target: &Tensor,
) -> Result<Tensor> {
    flat_total(
        b,
        "squared_error_sum",
        "loss_sq_err_partial",
        pred,
        target,
        0.0,
        false,
    )
}
