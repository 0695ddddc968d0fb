//! Shape checks that every backend makes the same way, so that a CPU and a
//! GPU backend reject the same operands with the same message.

use crate::backend::cpu::Real;
use crate::backend::Padding;
use crate::error::{Error, Result};
use crate::gradient::RowGradient;
use crate::limits::{checked_product, LimitField};
use crate::optim::validate::{check_step, optimizer_error};
use crate::optim::UpdateRule;
use crate::tensor::Tensor;

/// `t` as `(rows, cols)`, or [`Error::Shape`] naming `op`.
pub(crate) fn dims2(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match *t.shape() {
        [r, c] => Ok((r, c)),
        _ => Err(Error::shape(op, "a 2-D tensor", t.shape())),
    }
}

/// The element count of a `rows x cols` matrix or any product of sizes
/// computed from shapes, checked for overflow and against
/// [`crate::limits::Limits::max_tensor_elements`] before anything is
/// allocated or dispatched. Zero sizes count as one in the check (as in
/// [`crate::limits::tensor_elements`]), so every partial product of a size
/// that passes is within the limit too.
///
/// # Errors
/// [`Error::Limit`] naming `op` and `what`.
pub(crate) fn checked_size(
    op: &'static str,
    what: impl Fn() -> String,
    dims: impl IntoIterator<Item = usize> + Clone,
) -> Result<usize> {
    checked_product(
        op,
        LimitField::TensorElements,
        what,
        dims.clone().into_iter().map(|d| d.max(1)),
    )?;
    // No overflow: at most the product just checked.
    Ok(dims.into_iter().product())
}

/// `(m, k, n)` of `op(a) * op(b)`, where `op(x)` is `x` or `x^T` (`ta`,
/// `tb`): both 2-D, inner dimensions equal, and every operand size (`m * k`,
/// `k * n`, the result's `m * n`) within the limits, so a kernel never
/// computes a wrapped length.
pub(crate) fn matmul_dims(
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
) -> Result<(usize, usize, usize)> {
    let (ar, ac) = dims2(op, a)?;
    let (br, bc) = dims2(op, b)?;
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if tb { (bc, br) } else { (br, bc) };
    if k != kb {
        return Err(Error::Shape {
            op,
            expected: format!("inner dimensions to agree (op(a) is [{m}, {k}], transpose_a={ta})"),
            got: format!("op(b) is [{kb}, {n}] (transpose_b={tb})"),
        });
    }
    checked_size(op, || format!("elements of op(a) [{m}, {k}]"), [m, k])?;
    checked_size(op, || format!("elements of op(b) [{k}, {n}]"), [k, n])?;
    checked_size(op, || format!("elements of the product [{m}, {n}]"), [m, n])?;
    Ok((m, k, n))
}

/// Fails unless `a` and `b` have the same shape.
pub(crate) fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(op, a.shape(), b.shape()));
    }
    Ok(())
}

/// The last dimension of `t` (rank >= 1).
pub(crate) fn last_dim(op: &'static str, t: &Tensor) -> Result<usize> {
    t.shape()
        .last()
        .copied()
        .ok_or_else(|| Error::shape(op, "a tensor of rank >= 1", t.shape()))
}

/// `bias` must be `[n]` for the last dimension `n` of `x`; returns `n`.
pub(crate) fn bias_dim(op: &'static str, x: &Tensor, bias: &Tensor) -> Result<usize> {
    let n = last_dim(op, x)?;
    if bias.shape() != [n] {
        return Err(Error::shape(op, [n], bias.shape()));
    }
    Ok(n)
}

/// `t` as `(rows, n)` rows of its last axis `n` (rank >= 1; no rows when `n`
/// is 0): the layout of softmax and its gradient.
pub(crate) fn last_axis_rows(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    let n = last_dim(op, t)?;
    Ok((t.len().checked_div(n).unwrap_or(0), n))
}

/// `(n, classes)` of `scores [n, classes]` scored against `n` class ids in
/// `labels` (any shape).
pub(crate) fn class_dims(
    op: &'static str,
    scores: &Tensor,
    labels: &Tensor,
) -> Result<(usize, usize)> {
    let (n, c) = match *scores.shape() {
        [n, c] => (n, c),
        _ => return Err(Error::shape(op, "scores as [n, classes]", scores.shape())),
    };
    if labels.len() != n {
        return Err(Error::shape(op, format!("{n} labels"), labels.shape()));
    }
    Ok((n, c))
}

/// Fails unless `pred` and `target` have the same number of elements
/// (elementwise losses and metrics compare them flat); returns it.
pub(crate) fn same_len(op: &'static str, pred: &Tensor, target: &Tensor) -> Result<usize> {
    if pred.len() != target.len() {
        return Err(Error::shape(op, pred.shape(), target.shape()));
    }
    Ok(pred.len())
}

/// `t [.., k]` as `(rows, k)`: `k` is the last axis, `rows` the product of
/// the others (the per-lookup gradients of an embedding).
pub(crate) fn rows_of(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match t.shape().split_last() {
        // No overflow: a tensor's shape has a checked product.
        Some((&k, lead)) => Ok((lead.iter().product(), k)),
        None => Err(Error::shape(op, "a tensor [.., k]", t.shape())),
    }
}

/// Reads class ids / embedding ids stored as floats, checking each is a whole
/// number in `0..limit`.
pub(crate) fn indices<T: Real>(ids: &[T], limit: usize, op: &'static str) -> Result<Vec<usize>> {
    ids.iter()
        .enumerate()
        .map(|(i, &v)| index(v, i, limit, op))
        .collect()
}

/// One id of [`indices`]: `v` (at `position`) as a whole number in `0..limit`.
pub(crate) fn index<T: Real>(
    v: T,
    position: usize,
    limit: usize,
    op: &'static str,
) -> Result<usize> {
    let f = v.to_f64().unwrap_or(f64::NAN);
    if f.fract() != 0.0 || f < 0.0 || f >= limit as f64 {
        Err(Error::invalid(
            op,
            format!("id {f} at position {position} is not a whole number in 0..{limit}"),
        ))
    } else {
        Ok(f as usize)
    }
}

/// The checks of [`crate::backend::Backend::optimizer_step`], before
/// anything is written: valid hyper-parameters and learning rate, a 1-based
/// `step`, `rule.slot_inits().len()` slots, and `grad` and every slot shaped
/// like `var` ([`Error::Optimizer`], then [`Error::Shape`]).
pub(crate) fn optimizer_step_checks(
    rule: &UpdateRule,
    step: u64,
    lr: f32,
    var: &Tensor,
    grad: &Tensor,
    slots: &[Tensor],
) -> Result<()> {
    const OP: &str = "optimizer_step";
    check_step(rule, step, lr, slots.len())?;
    same_shape(OP, var, grad)?;
    for slot in slots {
        same_shape(OP, var, slot)?;
    }
    Ok(())
}

/// The checks of [`crate::backend::Backend::optimizer_step_rows`]: those of
/// [`optimizer_step_checks`], a rule that is
/// [`UpdateRule::sparse_exact`] ([`Error::Optimizer`] otherwise), and `var`
/// (and every slot) shaped like the gradient's table.
pub(crate) fn optimizer_step_rows_checks(
    rule: &UpdateRule,
    step: u64,
    lr: f32,
    var: &Tensor,
    grad: &RowGradient,
    slots: &[Tensor],
) -> Result<()> {
    const OP: &str = "optimizer_step_rows";
    check_step(rule, step, lr, slots.len())?;
    if !rule.sparse_exact() {
        return Err(optimizer_error(
            rule.name(),
            "this rule changes rows without a gradient too; densify the gradient \
             (RowGradient::to_dense) and use optimizer_step",
        ));
    }
    if var.shape() != grad.shape() {
        return Err(Error::shape(OP, grad.shape(), var.shape()));
    }
    for slot in slots {
        same_shape(OP, var, slot)?;
    }
    Ok(())
}

/// Sizes of one stride-1 2-D convolution of `x [n, h, w, c]` by a kernel
/// `[kh, kw, c, f]` (NHWC, HWIO), with Keras' padding: the output is
/// `[n, ho, wo, f]`, and output pixel `(oy, ox)` reads input pixels
/// `(oy + ky - pad_top, ox + kx - pad_left)` (zeros outside the image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub f: usize,
    pub ho: usize,
    pub wo: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl ConvGeometry {
    /// Checks the operands of a convolution named `op`: `x` 4-D, the kernel
    /// 4-D with at least one tap each way and `x`'s channel count, and for
    /// "valid" padding an input at least as large as the kernel.
    pub(crate) fn new(op: &'static str, x: &Tensor, w: &Tensor, padding: Padding) -> Result<Self> {
        let (n, h, wd, c) = match *x.shape() {
            [n, h, w, c] => (n, h, w, c),
            _ => return Err(Error::shape(op, "x as [n, h, w, c]", x.shape())),
        };
        let (kh, kw, kc, f) = match *w.shape() {
            [kh, kw, kc, f] if kh > 0 && kw > 0 => (kh, kw, kc, f),
            _ => {
                return Err(Error::shape(
                    op,
                    "kernel as [kh, kw, c, f] with kh, kw >= 1",
                    w.shape(),
                ))
            }
        };
        if kc != c {
            return Err(Error::shape(
                op,
                format!("kernel in-channels {c}"),
                w.shape(),
            ));
        }
        // Every size the kernels compute from the geometry, checked before
        // anything is allocated: the input and the kernel exist (so their
        // products are within the limits), the rest is checked here.
        let (ho, wo, pad_top, pad_left) = match padding {
            Padding::Same => (h, wd, (kh - 1) / 2, (kw - 1) / 2),
            Padding::Valid => {
                if h < kh || wd < kw {
                    return Err(Error::shape(
                        op,
                        format!("an input of at least {kh}x{kw} for \"valid\" padding"),
                        x.shape(),
                    ));
                }
                (h - kh + 1, wd - kw + 1, 0, 0)
            }
        };
        let patch = checked_size(
            op,
            || format!("taps of a {kh}x{kw}x{c} kernel"),
            [kh, kw, c],
        )?;
        checked_size(
            op,
            || format!("output pixels {n}x{ho}x{wo} times {patch} taps (im2col)"),
            [n, ho, wo, patch],
        )?;
        checked_size(
            op,
            || format!("elements of the output [{n}, {ho}, {wo}, {f}]"),
            [n, ho, wo, f],
        )?;
        Ok(ConvGeometry {
            n,
            h,
            w: wd,
            c,
            kh,
            kw,
            f,
            ho,
            wo,
            pad_top,
            pad_left,
        })
    }

    /// Output pixels over the batch: the rows of the im2col matrix.
    pub(crate) fn rows(&self) -> usize {
        self.n * self.ho * self.wo
    }

    /// Taps of one output pixel, `kh * kw * c`: the columns of the im2col matrix.
    pub(crate) fn patch(&self) -> usize {
        self.kh * self.kw * self.c
    }

    /// The output shape `[n, ho, wo, f]`.
    pub(crate) fn out_shape(&self) -> [usize; 4] {
        [self.n, self.ho, self.wo, self.f]
    }

    /// `bias` must be `[f]`.
    pub(crate) fn check_bias(&self, op: &'static str, bias: &Tensor) -> Result<()> {
        if bias.shape() != [self.f] {
            return Err(Error::shape(op, [self.f], bias.shape()));
        }
        Ok(())
    }

    /// `dy` must have the output's shape.
    pub(crate) fn check_dy(&self, op: &'static str, dy: &Tensor) -> Result<()> {
        if dy.shape() != self.out_shape() {
            return Err(Error::shape(op, self.out_shape(), dy.shape()));
        }
        Ok(())
    }
}

/// `x` as `[n, h, w, c]` for 2x2 pooling.
pub(crate) fn pool_dims(op: &'static str, x: &Tensor) -> Result<(usize, usize, usize, usize)> {
    match *x.shape() {
        [n, h, w, c] => Ok((n, h, w, c)),
        _ => Err(Error::shape(op, "x as [n, h, w, c]", x.shape())),
    }
}

/// The dimensions of `x` (as [`pool_dims`]) after checking that `dy` has
/// the pooled shape `[n, h / 2, w / 2, c]`.
pub(crate) fn pool_grad_dims(
    op: &'static str,
    x: &Tensor,
    dy: &Tensor,
) -> Result<(usize, usize, usize, usize)> {
    let (n, h, w, c) = pool_dims(op, x)?;
    if dy.shape() != [n, h / 2, w / 2, c] {
        return Err(Error::shape(op, [n, h / 2, w / 2, c], dy.shape()));
    }
    Ok((n, h, w, c))
}

/// Checks a dropout mask request (rate in `[0, 1)`, a shape within the
/// limits ([`crate::tensor::checked_numel`]), an element count the u32
/// counter of [`crate::rng::counter_uniform`] reaches) and returns the
/// count and the kept elements' scale `1 / (1 - rate)` (computed in f64).
pub(crate) fn dropout_dims(shape: &[usize], rate: f32) -> Result<(usize, f64)> {
    const OP: &str = "dropout_mask";
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::invalid(OP, format!("rate {rate} is not in [0, 1)")));
    }
    let n = crate::tensor::checked_numel(OP, shape)?;
    if n > u32::MAX as usize {
        return Err(Error::invalid(
            OP,
            format!("{n} elements exceed the u32 counter"),
        ));
    }
    Ok((n, 1.0 / (1.0 - rate as f64)))
}
