//! Embedding lookups and row-wise products.

use super::{host, index, indices, same_shape, Real};
use crate::backend::shape::{checked_size, dims2, rows_of};
use crate::error::{Error, Result};
use crate::gradient::{RowGradient, RowSegments};
use crate::tensor::Tensor;

/// Rows `ids` (any shape, read flat) of `table [v, k]`: `[ids.len(), k]`.
pub fn gather_rows<T: Real>(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather_rows";
    let (v, k) = dims2(OP, table)?;
    let tv = host::<T>(table, OP)?;
    let iv = host::<T>(ids, OP)?;
    let len = checked_size(OP, || format!("{} rows of {k}", iv.len()), [iv.len(), k])?;
    let mut out = Vec::with_capacity(len);
    for (p, &id) in iv.iter().enumerate() {
        let i = index(id, p, v, OP)?;
        out.extend_from_slice(&tv[i * k..(i + 1) * k]);
    }
    T::wrap(&[iv.len(), k], out)
}

/// `out[ids[i]] += dy[i]` into a `[rows, k]` zero tensor.
pub fn scatter_add_rows<T: Real>(dy: &Tensor, ids: &Tensor, rows: usize) -> Result<Tensor> {
    const OP: &str = "scatter_add_rows";
    let (n, k) = rows_of(OP, dy)?;
    if ids.len() != n {
        return Err(Error::shape(OP, format!("{n} ids"), ids.shape()));
    }
    let dv = host::<T>(dy, OP)?;
    let len = checked_size(OP, || format!("a [{rows}, {k}] table"), [rows, k])?;
    let idx = indices(host::<T>(ids, OP)?, rows, OP)?;
    let mut out = vec![T::zero(); len];
    for (r, &i) in idx.iter().enumerate() {
        for (o, &d) in out[i * k..(i + 1) * k]
            .iter_mut()
            .zip(&dv[r * k..(r + 1) * k])
        {
            *o += d;
        }
    }
    T::wrap(&[rows, k], out)
}

/// The rows of [`scatter_add_rows`] that can be nonzero: unique ids
/// ascending, each row summed over its lookups in ascending position order.
pub fn gather_rows_backward<T: Real>(
    dy: &Tensor,
    ids: &Tensor,
    rows: usize,
) -> Result<RowGradient> {
    const OP: &str = "gather_rows_backward";
    let (n, k) = rows_of(OP, dy)?;
    if ids.len() != n {
        return Err(Error::shape(OP, format!("{n} ids"), ids.shape()));
    }
    let dv = host::<T>(dy, OP)?;
    let idx = indices(host::<T>(ids, OP)?, rows, OP)?;
    let seg = RowSegments::new(&idx, rows)?;
    let mut out = vec![T::zero(); seg.len() * k];
    if k > 0 {
        for (j, row) in out.chunks_exact_mut(k).enumerate() {
            for &p in seg.segment(j) {
                let p = p as usize;
                for (o, &d) in row.iter_mut().zip(&dv[p * k..(p + 1) * k]) {
                    *o += d;
                }
            }
        }
    }
    let values = T::wrap(&[seg.len(), k], out)?;
    RowGradient::new(rows, seg.rows, values)
}

/// `v [1, k]` repeated into `[n, k]`.
pub fn broadcast_rows<T: Real>(v: &Tensor, n: usize) -> Result<Tensor> {
    const OP: &str = "broadcast_rows";
    let (one, k) = dims2(OP, v)?;
    if one != 1 {
        return Err(Error::shape(OP, "[1, k]", v.shape()));
    }
    let vv = host::<T>(v, OP)?;
    let len = checked_size(OP, || format!("{n} rows of {k}"), [n, k])?;
    let mut out = Vec::with_capacity(len);
    for _ in 0..n {
        out.extend_from_slice(vv);
    }
    T::wrap(&[n, k], out)
}

/// Row-wise dot product: `[n, 1]`.
pub fn row_dot<T: Real>(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    const OP: &str = "row_dot";
    same_shape(OP, a, b)?;
    let (n, k) = dims2(OP, a)?;
    let (av, bv) = (host::<T>(a, OP)?, host::<T>(b, OP)?);
    let out = (0..n)
        .map(|r| dot(&av[r * k..(r + 1) * k], &bv[r * k..(r + 1) * k]))
        .collect();
    T::wrap(&[n, 1], out)
}

/// `sum(a * b)` in eight interleaved partial sums (lane `l` takes elements
/// `l, l + 8, ..`), then the tail, in a fixed order: SIMD-friendly without
/// depending on the target, so native and wasm32 agree.
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    const LANES: usize = 8;
    let split = a.len() / LANES * LANES;
    let mut acc = [T::zero(); LANES];
    for (x, y) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = T::zero();
    for (&x, &y) in a[split..].iter().zip(&b[split..]) {
        tail += x * y;
    }
    let quads = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    ((quads[0] + quads[2]) + (quads[1] + quads[3])) + tail
}

/// Row `i` of `a [n, k]` times `s[i]`.
pub fn scale_rows<T: Real>(a: &Tensor, s: &Tensor) -> Result<Tensor> {
    const OP: &str = "scale_rows";
    let (n, k) = dims2(OP, a)?;
    if s.len() != n {
        return Err(Error::shape(OP, format!("{n} scales"), s.shape()));
    }
    let (av, sv) = (host::<T>(a, OP)?, host::<T>(s, OP)?);
    let mut out = av.to_vec();
    if k > 0 {
        for (row, &f) in out.chunks_exact_mut(k).zip(sv) {
            for o in row {
                *o *= f;
            }
        }
    }
    T::wrap(a.shape(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lane-split dot product against a plain sum, at every length up to
    /// 3 full lane groups plus tails, and the tutorial's 50.
    #[test]
    fn dot_matches_a_plain_sum_at_every_length() {
        for k in (0..=25).chain([50]) {
            let a: Vec<f64> = (0..k).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..k).map(|i| 1.0 + i as f64 * 0.11).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!(
                (dot(&a, &b) - plain).abs() <= 1e-12 * (1.0 + plain.abs()),
                "k {k}"
            );
        }
    }
}
