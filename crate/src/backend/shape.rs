//! Shape checks that every backend makes the same way, so that a CPU and a
//! GPU backend reject the same operands with the same message.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// `t` as `(rows, cols)`, or [`Error::Shape`] naming `op`.
pub(crate) fn dims2(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match *t.shape() {
        [r, c] => Ok((r, c)),
        _ => Err(Error::shape(op, "a 2-D tensor", t.shape())),
    }
}

/// `(m, k, n)` of `op(a) * op(b)`, where `op(x)` is `x` or `x^T` (`ta`,
/// `tb`): both 2-D, inner dimensions equal.
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
