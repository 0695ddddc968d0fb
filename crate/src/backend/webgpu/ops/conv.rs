//! 2-D convolution (NHWC, HWIO, stride 1) forward and backward, and 2x2 max
//! pooling (`kernels/conv.wgsl`).
//!
//! The convolution is im2col + GEMM, as on the CPU: `conv_im2col` lays the
//! receptive fields out as a `[rows, kh * kw * c]` column matrix (one thread
//! per element, zeros for padding), the tiled GEMM multiplies it by the
//! kernel viewed as `[kh * kw * c, f]`, and `add_bias` adds the bias. The
//! filter gradient is `cols^T * dy` (the GEMM's transpose flag), the bias
//! gradient `sum_leading(dy)`, and the input gradient the column-matrix
//! gradient `dy * w^T` folded back by `conv_col2im`, a gather: each input
//! element sums its taps in a fixed order (no atomics).
//!
//! The column matrix grows with the batch (cnn_dropout's second layer at
//! batch 256: 170 MB), so the batch runs in chunks of whole images whose
//! column matrix fits [`scratch_budget`] (and the device's storage-binding
//! limit); the filter gradients of the chunks are added up.

use std::cell::Cell;

use super::word;
use crate::backend::shape::{pool_dims, pool_grad_dims, ConvGeometry};
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::backend::{Backend, Conv2dGrads, Padding};
use crate::error::Result;
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../kernels/conv.wgsl");

pub(crate) const KERNELS: &[Kernel] = &[
    Kernel::entry(SOURCE, "conv_im2col"),
    Kernel::entry(SOURCE, "conv_col2im"),
    Kernel::entry(SOURCE, "conv_bias_at"),
    Kernel::entry(SOURCE, "conv_slice"),
    Kernel::entry(SOURCE, "pool_max"),
    Kernel::entry(SOURCE, "pool_max_backward"),
];

/// Default bound on a convolution's scratch buffers (the column matrix).
pub const DEFAULT_SCRATCH_BYTES: usize = 64 << 20;

thread_local! {
    static SCRATCH_BYTES: Cell<usize> = const { Cell::new(DEFAULT_SCRATCH_BYTES) };
}

/// The bound on a convolution's scratch buffers on this thread, in bytes
/// (the device's storage-binding limit applies too).
pub fn scratch_budget() -> usize {
    SCRATCH_BYTES.with(Cell::get)
}

/// Sets [`scratch_budget`] on this thread and returns the previous value:
/// for tests that force a convolution to run in chunks.
#[doc(hidden)]
pub fn set_conv_scratch_bytes(bytes: usize) -> usize {
    SCRATCH_BYTES.with(|c| c.replace(bytes))
}

/// The uniform block of `conv.wgsl`.
fn params(op: &'static str, g: &ConvGeometry, total: usize, off: usize) -> Result<[u32; 12]> {
    Ok([
        word(op, total)?,
        word(op, off)?,
        word(op, g.h)?,
        word(op, g.w)?,
        word(op, g.c)?,
        word(op, g.kh)?,
        word(op, g.kw)?,
        word(op, g.f)?,
        word(op, g.ho)?,
        word(op, g.wo)?,
        word(op, g.pad_top)?,
        word(op, g.pad_left)?,
    ])
}

/// Images per chunk: as many as keep the column matrix within the scratch
/// budget, the storage-binding limit and the GEMM's grid (at least one;
/// a single image too large fails in `alloc` with the limit named).
fn chunk_images(b: &WebGpuBackend, g: &ConvGeometry) -> usize {
    let limits = b.context().device().limits();
    let budget = scratch_budget().min(limits.max_storage_buffer_binding_size as usize);
    let per_image = g.ho * g.wo * g.patch() * 4;
    // The GEMM computes 64 rows per workgroup.
    let max_rows = limits.max_compute_workgroups_per_dimension as usize * 64;
    let by_bytes = budget.checked_div(per_image).unwrap_or(usize::MAX);
    let by_rows = max_rows.checked_div(g.ho * g.wo).unwrap_or(usize::MAX);
    by_bytes.min(by_rows).clamp(1, g.n.max(1))
}

/// The column matrix `[nc * ho * wo, patch]` of images `n0..n0 + nc` of `x`.
fn im2col(
    b: &WebGpuBackend,
    op: &'static str,
    g: &ConvGeometry,
    x: &Tensor,
    n0: usize,
    nc: usize,
) -> Result<Tensor> {
    let rows = nc * g.ho * g.wo;
    let cols = b.alloc(op, &[rows, g.patch()])?;
    let total = cols.len();
    b.dispatch_1d(
        op,
        "conv_im2col",
        &params(op, g, total, n0)?,
        &[b.buf(op, x)?, b.buf(op, &cols)?],
        total,
    )?;
    Ok(cols)
}

/// Rows `first..first + count` of the 2-D view `[.., cols]` of `t`, as a new
/// `[count, cols]` tensor.
fn rows_of(
    b: &WebGpuBackend,
    op: &'static str,
    t: &Tensor,
    cols: usize,
    first: usize,
    count: usize,
) -> Result<Tensor> {
    let out = b.alloc(op, &[count, cols])?;
    let total = out.len();
    let mut p = [0u32; 12];
    p[0] = word(op, total)?;
    p[1] = word(op, first * cols)?;
    b.dispatch_1d(
        op,
        "conv_slice",
        &p,
        &[b.buf(op, t)?, b.buf(op, &out)?],
        total,
    )?;
    Ok(out)
}

pub(crate) fn conv2d(
    b: &WebGpuBackend,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    padding: Padding,
) -> Result<Tensor> {
    const OP: &str = "conv2d";
    let g = ConvGeometry::new(OP, x, w, padding)?;
    g.check_bias(OP, bias)?;
    for t in [x, w, bias] {
        b.gpu(OP, t)?;
    }
    let w2 = w.clone().reshape(&[g.patch(), g.f])?;
    let chunk = chunk_images(b, &g);
    if chunk >= g.n {
        let cols = im2col(b, OP, &g, x, 0, g.n)?;
        let y = b.matmul(&cols, &w2, false, false)?;
        return b.add_bias(&y, bias)?.reshape(&g.out_shape());
    }
    let out = b.alloc(OP, &g.out_shape())?;
    let per_image = g.ho * g.wo * g.f;
    for n0 in (0..g.n).step_by(chunk) {
        let nc = chunk.min(g.n - n0);
        let cols = im2col(b, OP, &g, x, n0, nc)?;
        let y = b.matmul(&cols, &w2, false, false)?;
        let total = y.len();
        b.dispatch_1d(
            OP,
            "conv_bias_at",
            &params(OP, &g, total, n0 * per_image)?,
            &[b.buf(OP, &y)?, b.buf(OP, bias)?, b.buf(OP, &out)?],
            total,
        )?;
    }
    Ok(out)
}

pub(crate) fn conv2d_backward(
    b: &WebGpuBackend,
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    padding: Padding,
    need_dx: bool,
) -> Result<Conv2dGrads> {
    const OP: &str = "conv2d_backward";
    let g = ConvGeometry::new(OP, x, w, padding)?;
    g.check_dy(OP, dy)?;
    for t in [x, w, dy] {
        b.gpu(OP, t)?;
    }
    let w2 = w.clone().reshape(&[g.patch(), g.f])?;
    let db = b.sum_leading(dy)?;
    let dx = if need_dx {
        Some(b.alloc(OP, x.shape())?)
    } else {
        None
    };
    let chunk = chunk_images(b, &g);
    let mut dw: Option<Tensor> = None;
    for n0 in (0..g.n).step_by(chunk) {
        let nc = chunk.min(g.n - n0);
        let rows = nc * g.ho * g.wo;
        let cols = im2col(b, OP, &g, x, n0, nc)?;
        let dyc = if nc == g.n {
            dy.clone().reshape(&[rows, g.f])?
        } else {
            rows_of(b, OP, dy, g.f, n0 * g.ho * g.wo, rows)?
        };
        // dW [patch, f] = cols^T [patch, rows] * dY [rows, f]
        let part = b.matmul(&cols, &dyc, true, false)?;
        match &mut dw {
            None => dw = Some(part),
            Some(acc) => b.add_assign(acc, &part)?,
        }
        if let Some(dx) = &dx {
            // dcols [rows, patch] = dY [rows, f] * W^T [f, patch], gathered into dx.
            let dcols = b.matmul(&dyc, &w2, false, true)?;
            let total = nc * g.h * g.w * g.c;
            b.dispatch_1d(
                OP,
                "conv_col2im",
                &params(OP, &g, total, n0)?,
                &[b.buf(OP, &dcols)?, b.buf(OP, dx)?],
                total,
            )?;
        }
    }
    let dw = match dw {
        Some(dw) => dw.reshape(w.shape())?,
        None => b.zeros(w.shape())?,
    };
    Ok(Conv2dGrads { dx, dw, db })
}

/// The uniform block of the pooling kernels (`h`, `w`, `c` in their places).
fn pool_params(op: &'static str, total: usize, h: usize, w: usize, c: usize) -> Result<[u32; 12]> {
    let mut p = [0u32; 12];
    p[0] = word(op, total)?;
    p[2] = word(op, h)?;
    p[3] = word(op, w)?;
    p[4] = word(op, c)?;
    Ok(p)
}

pub(crate) fn max_pool2d(b: &WebGpuBackend, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "max_pool2d";
    let (n, h, w, c) = pool_dims(OP, x)?;
    b.gpu(OP, x)?;
    let out = b.alloc(OP, &[n, h / 2, w / 2, c])?;
    let total = out.len();
    b.dispatch_1d(
        OP,
        "pool_max",
        &pool_params(OP, total, h, w, c)?,
        &[b.buf(OP, x)?, b.buf(OP, &out)?],
        total,
    )?;
    Ok(out)
}

pub(crate) fn max_pool2d_backward(b: &WebGpuBackend, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "max_pool2d_backward";
    let (_, h, w, c) = pool_grad_dims(OP, x, dy)?;
    for t in [x, dy] {
        b.gpu(OP, t)?;
    }
    let dx = b.alloc(OP, x.shape())?;
    let total = dx.len();
    b.dispatch_1d(
        OP,
        "pool_max_backward",
        &pool_params(OP, total, h, w, c)?,
        &[b.buf(OP, x)?, b.buf(OP, dy)?, b.buf(OP, &dx)?],
        total,
    )?;
    Ok(dx)
}
