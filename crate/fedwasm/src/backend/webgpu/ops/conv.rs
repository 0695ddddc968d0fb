//! 2-D convolution (NHWC, HWIO, stride 1) forward and backward, and 2x2 max
//! pooling (`kernels/conv.wgsl`).
//!
//! Two methods compute the convolution ([`ConvMethod`]; implicit GEMM by
//! default, the other kept for comparison and tested alike):
//!
//! * **Implicit GEMM** (`conv_forward`, `conv_dw`, `conv_dx`): tiled GEMMs
//!   whose tile loaders read the images directly, so no column matrix is
//!   ever stored. The forward pass adds the bias as it stores. The filter
//!   gradient `cols^T * dy` has a long inner dimension (every output pixel of
//!   the batch) and a small output (`kh * kw * c` x `f`: a handful of
//!   workgroups), so it is split along the pixels (split-K: workgroup `z`
//!   sums one range into its own partial buffer) and `conv_dw_reduce` adds the
//!   partials in a fixed order; the bias gradient comes out of the same
//!   kernel as an extra row of ones in `cols^T` (`sum_leading` would reduce
//!   the whole `dy` in `f / 16` workgroups). The input gradient is a GEMM of
//!   `dy` gathered at the taps that reach each input pixel by the kernel
//!   transposed (`conv_dx`; in 128 x 32 blocks up to 32 channels): a gather,
//!   so each element is written by one thread, no atomics.
//! * **im2col + GEMM**, as on the CPU: `conv_im2col` lays the receptive
//!   fields out as a `[rows, kh * kw * c]` column matrix (one thread per
//!   element, zeros for padding), the shared tiled GEMM multiplies it by the
//!   kernel viewed as `[kh * kw * c, f]`, and `add_bias` adds the bias. The
//!   filter gradient is `cols^T * dy` (the GEMM's transpose flag), the bias
//!   gradient `sum_leading(dy)`, and the input gradient the column-matrix
//!   gradient `dy * w^T` folded back by `conv_col2im`, a gather: each input
//!   element sums its taps in a fixed order. The column matrix grows with
//!   the batch (cnn_dropout's second layer at batch 256: 170 MB), so the
//!   batch runs in chunks of whole images whose column matrix fits the
//!   scratch budget (64 MiB, or the device's storage-binding limit if
//!   smaller); the chunks' filter gradients are added up.
//!
//! The split-K partial sums of the implicit method live within the same
//! budget ([`set_conv_scratch_bytes`] lowers it, for tests).

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
    Kernel::entry(SOURCE, "conv_forward"),
    Kernel::entry(SOURCE, "conv_dx"),
    Kernel::entry(SOURCE, "conv_dx_narrow"),
    Kernel::entry(SOURCE, "conv_dw"),
    Kernel::entry(SOURCE, "conv_dw_reduce"),
    Kernel::entry(SOURCE, "pool_max"),
    Kernel::entry(SOURCE, "pool_max_backward"),
];

const FWD: &str = "conv2d";
const BWD: &str = "conv2d_backward";

/// Output rows and columns per GEMM workgroup (as `kernels/matmul.wgsl`).
const TILE: usize = 64;
/// Columns of the narrow blocks (`conv_dx_narrow`: 128 x 32).
const NARROW: usize = 32;

/// Default bound on a convolution's scratch buffers (the column matrix).
pub const DEFAULT_SCRATCH_BYTES: usize = 64 << 20;

/// How convolutions run (see the module docs of `ops/conv.rs`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvMethod {
    /// Implicit GEMM kernels: no column matrix.
    Implicit,
    /// im2col, the shared GEMM and col2im.
    Im2col,
}

thread_local! {
    static SCRATCH_BYTES: Cell<usize> = const { Cell::new(DEFAULT_SCRATCH_BYTES) };
    static METHOD: Cell<ConvMethod> = const { Cell::new(ConvMethod::Implicit) };
    static DISPATCH_ROWS: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn conv_method() -> ConvMethod {
    METHOD.with(Cell::get)
}

/// Sets how convolutions run on this thread and returns the previous
/// method: for tests and benchmarks that compare the two.
#[doc(hidden)]
pub fn set_conv_method(method: ConvMethod) -> ConvMethod {
    METHOD.with(|c| c.replace(method))
}

/// The bound on a convolution's scratch buffers on this thread, in bytes:
/// [`set_conv_scratch_bytes`]'s value, or the device's storage-binding limit
/// if smaller.
fn scratch_budget(b: &WebGpuBackend) -> usize {
    let limit = b
        .context()
        .device()
        .limits()
        .max_storage_buffer_binding_size;
    SCRATCH_BYTES.with(Cell::get).min(limit as usize)
}

/// Sets the bound on a convolution's scratch buffers on this thread
/// ([`DEFAULT_SCRATCH_BYTES`] unless set) and returns the previous value:
/// for tests that force a convolution to run in chunks.
#[doc(hidden)]
pub fn set_conv_scratch_bytes(bytes: usize) -> usize {
    SCRATCH_BYTES.with(|c| c.replace(bytes))
}

/// Caps the output rows of one implicit-GEMM dispatch on this thread
/// (rounded down to whole 128-row blocks; unlimited unless set) and returns
/// the previous cap: for tests of the dispatches that large batches need
/// (the grid allows 65,535 x 64 rows per dispatch on WebGPU's default limits).
#[doc(hidden)]
pub fn set_conv_dispatch_rows(rows: usize) -> usize {
    DISPATCH_ROWS.with(|c| c.replace(rows))
}

/// Words of `conv.wgsl`'s uniform block.
const PARAM_WORDS: usize = 16;

/// The uniform block of `conv.wgsl` (`split` zero).
fn params(
    op: &'static str,
    g: &ConvGeometry,
    total: usize,
    off: usize,
) -> Result<[u32; PARAM_WORDS]> {
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
        0,
        0,
        0,
        0,
    ])
}

/// Images per chunk: as many as keep the column matrix within the scratch
/// budget, the storage-binding limit and the GEMM's grid (at least one;
/// a single image too large fails in `alloc` with the limit named).
fn chunk_images(b: &WebGpuBackend, g: &ConvGeometry) -> usize {
    let limits = b.context().device().limits();
    let budget = scratch_budget(b);
    let per_image = (g.ho * g.wo * g.patch()).saturating_mul(4);
    // The GEMM computes TILE rows per workgroup.
    let max_rows = limits.max_compute_workgroups_per_dimension as usize * TILE;
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
    let mut p = [0u32; PARAM_WORDS];
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
    let g = ConvGeometry::new(FWD, x, w, padding)?;
    g.check_bias(FWD, bias)?;
    for t in [x, w, bias] {
        b.gpu(FWD, t)?;
    }
    match conv_method() {
        ConvMethod::Implicit => forward_implicit(b, &g, x, w, bias),
        ConvMethod::Im2col => forward_im2col(b, &g, x, w, bias),
    }
}

pub(crate) fn conv2d_backward(
    b: &WebGpuBackend,
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    padding: Padding,
    need_dx: bool,
) -> Result<Conv2dGrads> {
    let g = ConvGeometry::new(BWD, x, w, padding)?;
    g.check_dy(BWD, dy)?;
    for t in [x, w, dy] {
        b.gpu(BWD, t)?;
    }
    let (dw, db, dx) = match conv_method() {
        ConvMethod::Implicit => {
            let (dw, db) = filter_grad_implicit(b, &g, x, dy)?;
            let dx = need_dx.then(|| input_grad_implicit(b, &g, w, dy));
            (dw, db, dx.transpose()?)
        }
        ConvMethod::Im2col => {
            let db = b.sum_leading(dy)?;
            let (dw, dx) = backward_im2col(b, &g, x, w, dy, need_dx)?;
            (dw, db, dx)
        }
    };
    Ok(Conv2dGrads {
        dx,
        dw: dw.reshape(w.shape())?,
        db,
    })
}

// ---- implicit GEMM ----

/// Output rows of one implicit-GEMM dispatch: as many as the grid allows
/// (64 per workgroup along y, 128 for `conv_dx_narrow`), in whole blocks of
/// 128 rows, and at most [`set_conv_dispatch_rows`]'s value.
fn max_rows(b: &WebGpuBackend) -> usize {
    let limit = b
        .context()
        .device()
        .limits()
        .max_compute_workgroups_per_dimension as usize;
    let rows = (limit * TILE).min(DISPATCH_ROWS.with(Cell::get));
    (rows / (2 * TILE)).max(1) * 2 * TILE
}

/// `y = conv(x, w) + bias` by `conv_forward`.
fn forward_implicit(
    b: &WebGpuBackend,
    g: &ConvGeometry,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
) -> Result<Tensor> {
    let out = b.alloc(FWD, &g.out_shape())?;
    let rows = g.rows();
    let bufs = [
        b.buf(FWD, x)?,
        b.buf(FWD, w)?,
        b.buf(FWD, bias)?,
        b.buf(FWD, &out)?,
    ];
    for off in (0..rows).step_by(max_rows(b)) {
        let count = max_rows(b).min(rows - off);
        b.dispatch(
            FWD,
            "conv_forward",
            &params(FWD, g, rows, off)?,
            &bufs,
            [groups(FWD, g.f)?, groups(FWD, count)?, 1],
        )?;
    }
    Ok(out)
}

/// `dx` by `conv_dx` (a gather: each element sums its own taps).
fn input_grad_implicit(
    b: &WebGpuBackend,
    g: &ConvGeometry,
    w: &Tensor,
    dy: &Tensor,
) -> Result<Tensor> {
    let dx = b.alloc(BWD, &[g.n, g.h, g.w, g.c])?;
    let rows = g.n * g.h * g.w;
    let bufs = [b.buf(BWD, dy)?, b.buf(BWD, w)?, b.buf(BWD, &dx)?];
    // Up to 32 channels, blocks of 128 x 32 leave no idle columns.
    let narrow = g.c <= NARROW;
    for off in (0..rows).step_by(max_rows(b)) {
        let count = max_rows(b).min(rows - off);
        let (kernel, grid) = if narrow {
            (
                "conv_dx_narrow",
                [1, word(BWD, count.div_ceil(2 * TILE))?, 1],
            )
        } else {
            ("conv_dx", [groups(BWD, g.c)?, groups(BWD, count)?, 1])
        };
        b.dispatch(BWD, kernel, &params(BWD, g, rows, off)?, &bufs, grid)?;
    }
    Ok(dx)
}

/// Workgroups the split-K filter gradient aims for, over all splits.
const TARGET_GROUPS: usize = 512;
/// Fewest image rows per split.
const MIN_SPLIT_ROWS: usize = 256;

/// How `conv_dw` splits the image rows for its `[kh * kw * c + 1, f]`
/// gradient: `(splits, rows per split)`, splits within the scratch budget
/// for their partial sums.
fn dw_splits(g: &ConvGeometry, budget: usize) -> (usize, usize) {
    let rows = g.rows();
    let (m, f) = (g.patch() + 1, g.f);
    let blocks = m.div_ceil(TILE) * f.div_ceil(TILE);
    let by_budget = budget / m.saturating_mul(f).saturating_mul(4).max(1);
    let splits = rows
        .div_ceil(MIN_SPLIT_ROWS)
        .min(TARGET_GROUPS.div_ceil(blocks.max(1)))
        .min(by_budget)
        .max(1);
    // Whole k steps of 16 rows per split; every split non-empty.
    let per = rows.div_ceil(splits).div_ceil(16).max(1) * 16;
    (rows.div_ceil(per).max(1), per)
}

/// `(dw [kh * kw * c, f], db [f])` by `conv_dw` (split-K, the bias
/// gradient as an extra row) and `conv_dw_reduce`.
fn filter_grad_implicit(
    b: &WebGpuBackend,
    g: &ConvGeometry,
    x: &Tensor,
    dy: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let (m, f) = (g.patch(), g.f);
    if g.rows() == 0 {
        // No pixels: both gradients are zero.
        return Ok((b.alloc_zeroed(BWD, &[m, f])?, b.alloc_zeroed(BWD, &[f])?));
    }
    let dw = b.alloc(BWD, &[m, f])?;
    let db = b.alloc(BWD, &[f])?;
    let (splits, per) = dw_splits(g, scratch_budget(b));
    let part = b.alloc(BWD, &[splits, m + 1, f])?;
    let mut p = params(BWD, g, g.rows(), 0)?;
    p[12] = word(BWD, per)?;
    b.dispatch(
        BWD,
        "conv_dw",
        &p,
        &[b.buf(BWD, x)?, b.buf(BWD, dy)?, b.buf(BWD, &part)?],
        [groups(BWD, f)?, groups(BWD, m + 1)?, word(BWD, splits)?],
    )?;
    let total = (m + 1) * f;
    b.dispatch_1d(
        BWD,
        "conv_dw_reduce",
        &params(BWD, g, total, splits)?,
        &[b.buf(BWD, &part)?, b.buf(BWD, &dw)?, b.buf(BWD, &db)?],
        total,
    )?;
    Ok((dw, db))
}

/// Workgroups of 64 along one GEMM dimension of `n`.
fn groups(op: &'static str, n: usize) -> Result<u32> {
    word(op, n.div_ceil(TILE))
}

// ---- im2col + GEMM ----

/// `y = conv(x, w) + bias` by im2col, the GEMM and `add_bias`.
fn forward_im2col(
    b: &WebGpuBackend,
    g: &ConvGeometry,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
) -> Result<Tensor> {
    const OP: &str = FWD;
    let g = *g;
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

/// `(dw [kh * kw * c, f], dx)` by im2col, the GEMM and `conv_col2im`.
fn backward_im2col(
    b: &WebGpuBackend,
    g: &ConvGeometry,
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    need_dx: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    const OP: &str = BWD;
    let g = *g;
    let w2 = w.clone().reshape(&[g.patch(), g.f])?;
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
        Some(dw) => dw,
        None => b.zeros(&[g.patch(), g.f])?,
    };
    Ok((dw, dx))
}

/// The uniform block of the pooling kernels (`h`, `w`, `c` in their places).
fn pool_params(
    op: &'static str,
    total: usize,
    h: usize,
    w: usize,
    c: usize,
) -> Result<[u32; PARAM_WORDS]> {
    let mut p = [0u32; PARAM_WORDS];
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
