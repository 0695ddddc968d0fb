//! GEMM and bias kernels.

use super::{host, Real};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

fn dims2(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match *t.shape() {
        [r, c] => Ok((r, c)),
        _ => Err(Error::shape(op, "a 2-D tensor", t.shape())),
    }
}

/// `op(a) * op(b)` with transposes expressed as strides (no copies).
pub fn matmul<T: Real>(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    const OP: &str = "matmul";
    let (ar, ac) = dims2(OP, a)?;
    let (br, bc) = dims2(OP, b)?;
    let (m, k, rsa, csa) = if ta {
        (ac, ar, 1, ac as isize)
    } else {
        (ar, ac, ac as isize, 1)
    };
    let (kb, n, rsb, csb) = if tb {
        (bc, br, 1, bc as isize)
    } else {
        (br, bc, bc as isize, 1)
    };
    if k != kb {
        return Err(Error::Shape {
            op: OP,
            expected: format!("inner dimensions to agree (op(a) is [{m}, {k}], transpose_a={ta})"),
            got: format!("op(b) is [{kb}, {n}] (transpose_b={tb})"),
        });
    }
    let av = host::<T>(a, OP)?;
    let bv = host::<T>(b, OP)?;
    let mut out = vec![T::zero(); m * n];
    if m > 0 && n > 0 && k > 0 {
        // SAFETY: the shapes above bound every index the strides reach.
        unsafe {
            T::gemm(
                m,
                k,
                n,
                av.as_ptr(),
                rsa,
                csa,
                bv.as_ptr(),
                rsb,
                csb,
                T::zero(),
                out.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }
    Ok(T::wrap(&[m, n], out))
}

fn last_dim(op: &'static str, t: &Tensor) -> Result<usize> {
    t.shape()
        .last()
        .copied()
        .ok_or_else(|| Error::shape(op, "a tensor of rank >= 1", t.shape()))
}

/// `x [.., n] + bias [n]`.
pub fn add_bias<T: Real>(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    const OP: &str = "add_bias";
    let n = last_dim(OP, x)?;
    if bias.shape() != [n] {
        return Err(Error::shape(OP, [n], bias.shape()));
    }
    let xv = host::<T>(x, OP)?;
    let bv = host::<T>(bias, OP)?;
    let mut out = xv.to_vec();
    if n > 0 {
        for row in out.chunks_exact_mut(n) {
            for (o, &b) in row.iter_mut().zip(bv) {
                *o += b;
            }
        }
    }
    Ok(T::wrap(x.shape(), out))
}

/// Column sums of `dy [.., n]`.
pub fn sum_leading<T: Real>(dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "sum_leading";
    let n = last_dim(OP, dy)?;
    let dv = host::<T>(dy, OP)?;
    let mut out = vec![T::zero(); n];
    if n > 0 {
        for row in dv.chunks_exact(n) {
            for (o, &d) in out.iter_mut().zip(row) {
                *o += d;
            }
        }
    }
    Ok(T::wrap(&[n], out))
}
