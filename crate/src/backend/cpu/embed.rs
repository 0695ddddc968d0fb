//! Embedding lookups and row-wise products.

use super::{host, indices, same_shape, Real};
use crate::error::{Error, Result};
use crate::gradient::{RowGradient, RowSegments};
use crate::tensor::Tensor;

fn dims2(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match *t.shape() {
        [r, c] => Ok((r, c)),
        _ => Err(Error::shape(op, "a 2-D tensor", t.shape())),
    }
}

/// Rows `ids` of `table [v, k]`.
pub fn gather_rows<T: Real>(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather_rows";
    let (v, k) = dims2(OP, table)?;
    let tv = host::<T>(table, OP)?;
    let idx = indices(host::<T>(ids, OP)?, v, OP)?;
    let mut out = Vec::with_capacity(idx.len() * k);
    for i in &idx {
        out.extend_from_slice(&tv[i * k..(i + 1) * k]);
    }
    Ok(T::wrap(&[idx.len(), k], out))
}

/// `out[ids[i]] += dy[i]` into a `[rows, k]` zero tensor.
pub fn scatter_add_rows<T: Real>(dy: &Tensor, ids: &Tensor, rows: usize) -> Result<Tensor> {
    const OP: &str = "scatter_add_rows";
    let (n, k) = dims2(OP, dy)?;
    if ids.len() != n {
        return Err(Error::shape(OP, format!("{n} ids"), ids.shape()));
    }
    let dv = host::<T>(dy, OP)?;
    let idx = indices(host::<T>(ids, OP)?, rows, OP)?;
    let mut out = vec![T::zero(); rows * k];
    for (r, &i) in idx.iter().enumerate() {
        for (o, &d) in out[i * k..(i + 1) * k]
            .iter_mut()
            .zip(&dv[r * k..(r + 1) * k])
        {
            *o += d;
        }
    }
    Ok(T::wrap(&[rows, k], out))
}

/// The rows of [`scatter_add_rows`] that can be nonzero: unique ids
/// ascending, each row summed over its lookups in ascending position order.
pub fn gather_rows_backward<T: Real>(
    dy: &Tensor,
    ids: &Tensor,
    rows: usize,
) -> Result<RowGradient> {
    const OP: &str = "gather_rows_backward";
    let (n, k) = dims2(OP, dy)?;
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
    let values = T::wrap(&[seg.len(), k], out);
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
    let mut out = Vec::with_capacity(n * k);
    for _ in 0..n {
        out.extend_from_slice(vv);
    }
    Ok(T::wrap(&[n, k], out))
}

/// Row-wise dot product: `[n, 1]`.
pub fn row_dot<T: Real>(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    const OP: &str = "row_dot";
    same_shape(OP, a, b)?;
    let (n, k) = dims2(OP, a)?;
    let (av, bv) = (host::<T>(a, OP)?, host::<T>(b, OP)?);
    let out = (0..n)
        .map(|r| {
            av[r * k..(r + 1) * k]
                .iter()
                .zip(&bv[r * k..(r + 1) * k])
                .map(|(&x, &y)| x * y)
                .sum()
        })
        .collect();
    Ok(T::wrap(&[n, 1], out))
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
    Ok(T::wrap(a.shape(), out))
}
