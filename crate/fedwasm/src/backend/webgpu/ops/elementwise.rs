//! Elementwise operations, bias, broadcasting, row products
//! (`kernels/elementwise.wgsl`) and dropout masks (`kernels/dropout.wgsl`).

use super::{bits, word};
use crate::backend::shape::{bias_dim, dims2, dropout_dims, last_dim, same_shape};
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../kernels/elementwise.wgsl");
const DROPOUT: &str = include_str!("../kernels/dropout.wgsl");

pub(crate) const KERNELS: &[Kernel] = &[
    Kernel::entry(SOURCE, "add"),
    Kernel::entry(SOURCE, "mul"),
    Kernel::entry(SOURCE, "relu"),
    Kernel::entry(SOURCE, "relu_backward"),
    Kernel::entry(SOURCE, "add_assign"),
    Kernel::entry(SOURCE, "add_bias"),
    Kernel::entry(SOURCE, "sum_leading"),
    Kernel::entry(SOURCE, "broadcast_rows"),
    Kernel::entry(SOURCE, "scale_rows"),
    Kernel::entry(SOURCE, "row_dot"),
    Kernel::entry(DROPOUT, "dropout_mask"),
];

/// `out = kernel(a, b)` over equal shapes.
fn binary(
    b: &WebGpuBackend,
    op: &'static str,
    kernel: &'static str,
    x: &Tensor,
    y: &Tensor,
) -> Result<Tensor> {
    same_shape(op, x, y)?;
    let out = b.alloc(op, x.shape())?;
    b.dispatch_1d(
        op,
        kernel,
        &[word(op, x.len())?],
        &[b.buf(op, x)?, b.buf(op, y)?, b.buf(op, &out)?],
        x.len(),
    )?;
    Ok(out)
}

pub(crate) fn add(b: &WebGpuBackend, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(b, "add", "add", x, y)
}

pub(crate) fn mul(b: &WebGpuBackend, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    binary(b, "mul", "mul", x, y)
}

pub(crate) fn relu_backward(b: &WebGpuBackend, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    binary(b, "relu_backward", "relu_backward", y, dy)
}

pub(crate) fn relu(b: &WebGpuBackend, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "relu";
    let out = b.alloc(OP, x.shape())?;
    b.dispatch_1d(
        OP,
        "relu",
        &[word(OP, x.len())?],
        &[b.buf(OP, x)?, b.buf(OP, &out)?],
        x.len(),
    )?;
    Ok(out)
}

pub(crate) fn add_assign(b: &WebGpuBackend, acc: &mut Tensor, x: &Tensor) -> Result<()> {
    const OP: &str = "add_assign";
    if acc.len() != x.len() {
        return Err(Error::shape(OP, acc.shape(), x.shape()));
    }
    b.gpu(OP, x)?;
    b.make_unique(OP, acc)?;
    b.dispatch_1d(
        OP,
        "add_assign",
        &[word(OP, x.len())?],
        &[b.buf(OP, acc)?, b.buf(OP, x)?],
        x.len(),
    )
}

pub(crate) fn add_bias(b: &WebGpuBackend, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    const OP: &str = "add_bias";
    let cols = bias_dim(OP, x, bias)?;
    let out = b.alloc(OP, x.shape())?;
    b.dispatch_1d(
        OP,
        "add_bias",
        &[word(OP, x.len())?, word(OP, cols)?],
        &[b.buf(OP, x)?, b.buf(OP, bias)?, b.buf(OP, &out)?],
        x.len(),
    )?;
    Ok(out)
}

/// Column sums; a workgroup of 16 x 16 threads owns 16 columns (see the shader).
pub(crate) fn sum_leading(b: &WebGpuBackend, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "sum_leading";
    let cols = last_dim(OP, dy)?;
    let out = b.alloc(OP, &[cols])?;
    b.dispatch(
        OP,
        "sum_leading",
        &[word(OP, dy.len())?, word(OP, cols)?],
        &[b.buf(OP, dy)?, b.buf(OP, &out)?],
        [word(OP, cols.div_ceil(16))?, 1, 1],
    )?;
    Ok(out)
}
/// Inverted-dropout mask, bit for bit the CPU's: the kernel reproduces
/// [`crate::rng::counter_uniform`] from the seed's two `u32` halves.
pub(crate) fn dropout_mask(
    b: &WebGpuBackend,
    shape: &[usize],
    rate: f32,
    seed: u64,
    stream: u32,
) -> Result<Tensor> {
    const OP: &str = "dropout_mask";
    let (n, keep) = dropout_dims(shape, rate)?;
    // As the CPU computes it (in f64, rounded once to f32).
    let keep = keep as f32;
    let out = b.alloc(OP, shape)?;
    b.dispatch_1d(
        OP,
        "dropout_mask",
        &[
            word(OP, n)?,
            seed as u32,
            (seed >> 32) as u32,
            stream,
            bits(keep),
            bits(rate),
        ],
        &[b.buf(OP, &out)?],
        n,
    )?;
    Ok(out)
}

/// `v [1, k]` repeated into `[n, k]`.
pub(crate) fn broadcast_rows(b: &WebGpuBackend, v: &Tensor, n: usize) -> Result<Tensor> {
    const OP: &str = "broadcast_rows";
    let (one, k) = dims2(OP, v)?;
    if one != 1 {
        return Err(Error::shape(OP, "[1, k]", v.shape()));
    }
    let len = n
        .checked_mul(k)
        .ok_or_else(|| Error::invalid(OP, format!("[{n}, {k}] overflows usize")))?;
    let vb = b.buf(OP, v)?;
    let out = b.alloc(OP, &[n, k])?;
    b.dispatch_1d(
        OP,
        "broadcast_rows",
        &[word(OP, len)?, word(OP, k)?],
        &[vb, b.buf(OP, &out)?],
        len,
    )?;
    Ok(out)
}

/// Row-wise dot product `[n, 1]`, one thread per row.
pub(crate) fn row_dot(b: &WebGpuBackend, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    const OP: &str = "row_dot";
    same_shape(OP, x, y)?;
    let (n, k) = dims2(OP, x)?;
    let (xb, yb) = (b.buf(OP, x)?, b.buf(OP, y)?);
    let out = b.alloc(OP, &[n, 1])?;
    b.dispatch_1d(
        OP,
        "row_dot",
        &[word(OP, n)?, word(OP, k)?],
        &[xb, yb, b.buf(OP, &out)?],
        n,
    )?;
    Ok(out)
}

/// Row `i` of `x [n, k]` times `s[i]`.
pub(crate) fn scale_rows(b: &WebGpuBackend, x: &Tensor, s: &Tensor) -> Result<Tensor> {
    const OP: &str = "scale_rows";
    let (n, k) = dims2(OP, x)?;
    if s.len() != n {
        return Err(Error::shape(OP, format!("{n} scales"), s.shape()));
    }
    let (xb, sb) = (b.buf(OP, x)?, b.buf(OP, s)?);
    let out = b.alloc(OP, x.shape())?;
    b.dispatch_1d(
        OP,
        "scale_rows",
        &[word(OP, x.len())?, word(OP, k)?],
        &[xb, sb, b.buf(OP, &out)?],
        x.len(),
    )?;
    Ok(out)
}
