//! Convolution (im2col + GEMM) and 2x2 max pooling, NHWC / HWIO.
//!
//! im2col lays the receptive field of output pixel `(n, oy, ox)` out as row
//! `(n * ho + oy) * wo + ox` of a `[n * ho * wo, kh * kw * c]` matrix, columns in
//! `(ky, kx, c)` order, which is exactly the row order of an HWIO kernel viewed
//! as `[kh * kw * c, f]`. The convolution is then one GEMM, and its gradients two.

use super::linalg::{gemm_into, gemm_new};
use super::{host, Real};
use crate::backend::shape::{pool_dims, pool_grad_dims, ConvGeometry as Geometry};
use crate::backend::{Conv2dGrads, Padding};
use crate::error::Result;
use crate::tensor::Tensor;

/// The CPU's walks over a [`Geometry`].
impl Geometry {
    /// Calls `f(col_offset, x_offset, len)` for each kernel row `ky` of output
    /// pixel `(b, oy, ox)` that lies inside the image: the in-bounds taps
    /// `kx` of one kernel row are adjacent in both the im2col row and the
    /// NHWC input (channels innermost), so each call names one contiguous run
    /// of `len` elements.
    #[inline]
    fn for_each_run(&self, b: usize, oy: usize, ox: usize, mut f: impl FnMut(usize, usize, usize)) {
        // Taps kx in kx0..kx1 land inside the image horizontally.
        let left = ox as isize - self.pad_left as isize;
        let kx0 = (-left).max(0) as usize;
        let kx1 = (self.w as isize - left).clamp(0, self.kw as isize) as usize;
        if kx0 >= kx1 {
            return;
        }
        let ix0 = (left + kx0 as isize) as usize;
        for ky in 0..self.kh {
            let iy = (oy + ky) as isize - self.pad_top as isize;
            if iy < 0 || iy >= self.h as isize {
                continue;
            }
            let col = (ky * self.kw + kx0) * self.c;
            let xo = ((b * self.h + iy as usize) * self.w + ix0) * self.c;
            f(col, xo, (kx1 - kx0) * self.c);
        }
    }

    /// Whether every tap of every output pixel is inside the image ("valid",
    /// or a 1x1 kernel), so im2col writes every element.
    fn dense(&self) -> bool {
        self.pad_top == 0
            && self.pad_left == 0
            && self.ho + self.kh - 1 <= self.h
            && self.wo + self.kw - 1 <= self.w
    }
}

fn im2col<T: Real>(g: &Geometry, x: &[T]) -> Vec<T> {
    let p = g.patch();
    let len = g.rows() * p;
    if g.dense() {
        // Rows are appended in order and each is filled completely.
        let mut cols = Vec::with_capacity(len);
        for b in 0..g.n {
            for oy in 0..g.ho {
                for ox in 0..g.wo {
                    g.for_each_run(b, oy, ox, |_, xo, run| {
                        cols.extend_from_slice(&x[xo..xo + run])
                    });
                }
            }
        }
        debug_assert_eq!(cols.len(), len);
        return cols;
    }
    let mut cols = vec![T::zero(); len];
    let mut row = 0;
    for b in 0..g.n {
        for oy in 0..g.ho {
            for ox in 0..g.wo {
                let dst = &mut cols[row * p..(row + 1) * p];
                g.for_each_run(b, oy, ox, |col, xo, run| {
                    dst[col..col + run].copy_from_slice(&x[xo..xo + run])
                });
                row += 1;
            }
        }
    }
    cols
}

fn col2im<T: Real>(g: &Geometry, cols: &[T]) -> Vec<T> {
    let p = g.patch();
    let mut dx = vec![T::zero(); g.n * g.h * g.w * g.c];
    let mut row = 0;
    for b in 0..g.n {
        for oy in 0..g.ho {
            for ox in 0..g.wo {
                let src = &cols[row * p..(row + 1) * p];
                g.for_each_run(b, oy, ox, |col, xo, run| {
                    for (d, &s) in dx[xo..xo + run].iter_mut().zip(&src[col..col + run]) {
                        *d += s;
                    }
                });
                row += 1;
            }
        }
    }
    dx
}

/// Stride-1 convolution with bias.
pub fn conv2d<T: Real>(x: &Tensor, w: &Tensor, b: &Tensor, padding: Padding) -> Result<Tensor> {
    const OP: &str = "conv2d";
    let g = Geometry::new(OP, x, w, padding)?;
    g.check_bias(OP, b)?;
    let (xv, wv, bv) = (host::<T>(x, OP)?, host::<T>(w, OP)?, host::<T>(b, OP)?);
    let cols = im2col(&g, xv);
    let mut y = gemm_new(g.rows(), g.patch(), g.f, &cols, false, wv, false);
    if g.f > 0 {
        for row in y.chunks_exact_mut(g.f) {
            for (o, &bb) in row.iter_mut().zip(bv) {
                *o += bb;
            }
        }
    }
    T::wrap(&g.out_shape(), y)
}

/// Gradients of [`conv2d`].
pub fn conv2d_backward<T: Real>(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    padding: Padding,
    need_dx: bool,
) -> Result<Conv2dGrads> {
    const OP: &str = "conv2d_backward";
    let g = Geometry::new(OP, x, w, padding)?;
    g.check_dy(OP, dy)?;
    let (xv, wv, dv) = (host::<T>(x, OP)?, host::<T>(w, OP)?, host::<T>(dy, OP)?);
    let cols = im2col(&g, xv);
    // dW [patch, f] = cols^T [patch, rows] * dY [rows, f]
    let dw = gemm_new(g.patch(), g.rows(), g.f, &cols, true, dv, false);
    let mut db = vec![T::zero(); g.f];
    if g.f > 0 {
        for row in dv.chunks_exact(g.f) {
            for (o, &d) in db.iter_mut().zip(row) {
                *o += d;
            }
        }
    }
    let dx = if need_dx {
        // dcols [rows, patch] = dY [rows, f] * W^T [f, patch]
        let mut dcols = cols;
        gemm_into(g.rows(), g.f, g.patch(), dv, false, wv, true, &mut dcols);
        Some(T::wrap(x.shape(), col2im(&g, &dcols))?)
    } else {
        None
    };
    Ok(Conv2dGrads {
        dx,
        dw: T::wrap(w.shape(), dw)?,
        db: T::wrap(&[g.f], db)?,
    })
}

/// Calls `f(out_index, x_index)` for every output element of 2x2 pooling,
/// with `x_index` the first maximum of its window (row-major window order).
/// Channels are innermost, so the four candidate rows are contiguous.
fn for_each_pool_max<T: Real>(
    x: &[T],
    dims: (usize, usize, usize, usize),
    mut f: impl FnMut(usize, usize),
) {
    let (n, h, w, c) = dims;
    let mut out = 0;
    for b in 0..n {
        for oy in 0..h / 2 {
            let row0 = (b * h + 2 * oy) * w;
            let row1 = row0 + w;
            for ox in 0..w / 2 {
                let taps = [
                    (row0 + 2 * ox) * c,
                    (row0 + 2 * ox + 1) * c,
                    (row1 + 2 * ox) * c,
                    (row1 + 2 * ox + 1) * c,
                ];
                for ch in 0..c {
                    let mut best = taps[0] + ch;
                    for t in &taps[1..] {
                        if x[t + ch] > x[best] {
                            best = t + ch;
                        }
                    }
                    f(out, best);
                    out += 1;
                }
            }
        }
    }
}

/// 2x2 max pooling, stride 2, "valid".
pub fn max_pool2d<T: Real>(x: &Tensor) -> Result<Tensor> {
    const OP: &str = "max_pool2d";
    let (n, h, w, c) = pool_dims(OP, x)?;
    let xv = host::<T>(x, OP)?;
    let mut out = vec![T::zero(); n * (h / 2) * (w / 2) * c];
    for_each_pool_max(xv, (n, h, w, c), |o, i| out[o] = xv[i]);
    T::wrap(&[n, h / 2, w / 2, c], out)
}

/// Gradient of [`max_pool2d`]: `dy` goes to each window's first maximum.
pub fn max_pool2d_backward<T: Real>(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "max_pool2d_backward";
    let (n, h, w, c) = pool_grad_dims(OP, x, dy)?;
    let (xv, dv) = (host::<T>(x, OP)?, host::<T>(dy, OP)?);
    let mut dx = vec![T::zero(); xv.len()];
    for_each_pool_max(xv, (n, h, w, c), |o, i| dx[i] += dv[o]);
    T::wrap(x.shape(), dx)
}
