//! GEMM and bias kernels.

use super::{host, Real};
use crate::backend::shape::matmul_dims;
use crate::backend::shape::{bias_dim, last_dim};
use crate::error::Result;
use crate::tensor::Tensor;

/// `op(a) * op(b)`, transposes expressed as strides (no copies).
pub fn matmul<T: Real>(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    const OP: &str = "matmul";
    let (m, k, n) = matmul_dims(OP, a, b, ta, tb)?;
    let av = host::<T>(a, OP)?;
    let bv = host::<T>(b, OP)?;
    let out = gemm_new(m, k, n, av, ta, bv, tb);
    T::wrap(&[m, n], out)
}

/// `c = op(a) * op(b)` into an existing buffer; `a` is `[m, k]` row-major
/// (`[k, m]` when `ta`), `b` is `[k, n]` (`[n, k]` when `tb`), `c` is `[m, n]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_into<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    c: &mut [T],
) {
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    // SAFETY: `c` holds m * n elements (checked above).
    unsafe { gemm_raw(m, k, n, a, ta, b, tb, c.as_mut_ptr()) }
}

/// `op(a) * op(b)` in a new `[m, n]` buffer (layouts as [`gemm_into`]). The
/// buffer is not zeroed first: the GEMM writes every element.
pub fn gemm_new<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
) -> Vec<T> {
    assert!(a.len() == m * k && b.len() == k * n);
    let mut c = Vec::with_capacity(m * n);
    // SAFETY: the capacity is m * n; `gemm_raw` initialises every element
    // (beta is 0, so nothing is read) before the length is set.
    unsafe {
        gemm_raw(m, k, n, a, ta, b, tb, c.as_mut_ptr());
        c.set_len(m * n);
    }
    c
}

/// Writes `op(a) * op(b)` to the `m * n` elements at `c` without reading them.
///
/// # Safety
/// `a` and `b` must hold `m * k` and `k * n` elements and `c` must be valid
/// for `m * n` writes.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    c: *mut T,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m * n {
            c.add(i).write(T::zero());
        }
        return;
    }
    let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
    T::gemm(
        m,
        k,
        n,
        a.as_ptr(),
        rsa,
        csa,
        b.as_ptr(),
        rsb,
        csb,
        T::zero(),
        c,
        n as isize,
        1,
    );
}

/// `x [.., n] + bias [n]`.
pub fn add_bias<T: Real>(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    const OP: &str = "add_bias";
    let n = bias_dim(OP, x, bias)?;
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
    T::wrap(x.shape(), out)
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
    T::wrap(&[n], out)
}
