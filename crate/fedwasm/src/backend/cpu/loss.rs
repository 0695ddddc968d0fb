//! Losses (batch means with gradients) and metric reductions.

use super::{host, host_mut, indices, Real};
use crate::backend::shape::{class_dims, same_len};
use crate::backend::LossOutput;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keras' `epsilon()`, the clip applied to probabilities (shared with the
/// WebGPU backend, which passes the same `f32` bounds to its kernel).
pub(crate) const PROB_EPS: f64 = 1e-7;

fn class_rows<'a, T: Real>(
    op: &'static str,
    scores: &'a Tensor,
    labels: &Tensor,
) -> Result<(usize, usize, &'a [T], Vec<usize>)> {
    let (n, c) = class_dims(op, scores, labels)?;
    let sv = host::<T>(scores, op)?;
    let idx = indices(host::<T>(labels, op)?, c, op)?;
    Ok((n, c, sv, idx))
}

/// `mean(-log(clip(p[label])))`.
pub fn sparse_cross_entropy<T: Real>(probs: &Tensor, labels: &Tensor) -> Result<LossOutput> {
    const OP: &str = "sparse_cross_entropy";
    let (n, c, pv, idx) = class_rows::<T>(OP, probs, labels)?;
    let (lo, hi) = (T::c(PROB_EPS), T::c(1.0 - PROB_EPS));
    let inv_n = T::one() / T::c(n.max(1) as f64);
    let mut grad = vec![T::zero(); n * c];
    let mut total = T::zero();
    for (r, &y) in idx.iter().enumerate() {
        let p = pv[r * c + y];
        let clipped = p.max(lo).min(hi);
        total += -clipped.ln();
        // The clip has zero derivative outside [lo, hi].
        if p > lo && p < hi {
            grad[r * c + y] = -inv_n / p;
        }
    }
    Ok(LossOutput {
        loss: T::wrap(&[1], vec![total * inv_n])?,
        grad: T::wrap(probs.shape(), grad)?,
    })
}

/// Softmax + cross-entropy on logits via log-sum-exp.
pub fn softmax_cross_entropy<T: Real>(logits: &Tensor, labels: &Tensor) -> Result<LossOutput> {
    const OP: &str = "softmax_cross_entropy";
    let (n, c, zv, idx) = class_rows::<T>(OP, logits, labels)?;
    let inv_n = T::one() / T::c(n.max(1) as f64);
    let mut grad = vec![T::zero(); n * c];
    let mut total = T::zero();
    for (r, &y) in idx.iter().enumerate() {
        let z = &zv[r * c..(r + 1) * c];
        let g = &mut grad[r * c..(r + 1) * c];
        let max = z.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        let mut sum = T::zero();
        for (gi, &zi) in g.iter_mut().zip(z) {
            *gi = (zi - max).exp();
            sum += *gi;
        }
        total += max + sum.ln() - z[y];
        for gi in g.iter_mut() {
            *gi = *gi / sum * inv_n;
        }
        g[y] -= inv_n;
    }
    Ok(LossOutput {
        loss: T::wrap(&[1], vec![total * inv_n])?,
        grad: T::wrap(logits.shape(), grad)?,
    })
}

fn paired<'a, T: Real>(
    op: &'static str,
    pred: &'a Tensor,
    target: &'a Tensor,
) -> Result<(&'a [T], &'a [T])> {
    same_len(op, pred, target)?;
    Ok((host::<T>(pred, op)?, host::<T>(target, op)?))
}

/// `mean((pred - target)^2)` over all elements.
pub fn mean_squared_error<T: Real>(pred: &Tensor, target: &Tensor) -> Result<LossOutput> {
    const OP: &str = "mean_squared_error";
    let (pv, tv) = paired::<T>(OP, pred, target)?;
    let inv_n = T::one() / T::c(pv.len().max(1) as f64);
    let two = T::c(2.0);
    let grad = pv
        .iter()
        .zip(tv)
        .map(|(&p, &t)| two * (p - t) * inv_n)
        .collect();
    let total: T = pv.iter().zip(tv).map(|(&p, &t)| (p - t) * (p - t)).sum();
    Ok(LossOutput {
        loss: T::wrap(&[1], vec![total * inv_n])?,
        grad: T::wrap(pred.shape(), grad)?,
    })
}

/// Rows whose first arg-max is the label.
pub fn count_correct<T: Real>(scores: &Tensor, labels: &Tensor) -> Result<Tensor> {
    const OP: &str = "count_correct";
    let (_, c, sv, idx) = class_rows::<T>(OP, scores, labels)?;
    let mut correct = 0usize;
    for (r, &y) in idx.iter().enumerate() {
        let row = &sv[r * c..(r + 1) * c];
        let mut best = 0;
        for (j, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = j;
            }
        }
        correct += usize::from(best == y);
    }
    T::wrap(&[1], vec![T::c(correct as f64)])
}

/// Elements with `|pred - target| <= tol`.
pub fn count_within<T: Real>(pred: &Tensor, target: &Tensor, tol: f32) -> Result<Tensor> {
    let (pv, tv) = paired::<T>("count_within", pred, target)?;
    let tol = T::c(tol as f64);
    let count = pv
        .iter()
        .zip(tv)
        .filter(|(&p, &t)| (p - t).abs() <= tol)
        .count();
    T::wrap(&[1], vec![T::c(count as f64)])
}

/// `count[0] +=` the finite elements of `x`.
pub fn add_count_finite<T: Real>(count: &mut Tensor, x: &Tensor) -> Result<()> {
    const OP: &str = "add_count_finite";
    if count.len() != 1 {
        return Err(Error::shape(OP, [1], count.shape()));
    }
    let n = host::<T>(x, OP)?.iter().filter(|v| v.is_finite()).count();
    let c = &mut host_mut::<T>(count, OP)?[0];
    *c += T::c(n as f64);
    Ok(())
}

/// `sum((pred - target)^2)`.
pub fn squared_error_sum<T: Real>(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    let (pv, tv) = paired::<T>("squared_error_sum", pred, target)?;
    let total: T = pv.iter().zip(tv).map(|(&p, &t)| (p - t) * (p - t)).sum();
    T::wrap(&[1], vec![total])
}
