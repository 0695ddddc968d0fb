//! Elementwise operations, bias, broadcasting, row products and dropout masks
//! (`kernels/elementwise.wgsl`).

use super::{not_yet, word};
use crate::backend::shape::{bias_dim, last_dim, same_shape};
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../kernels/elementwise.wgsl");

pub(crate) const KERNELS: &[Kernel] = &[
    Kernel::entry(SOURCE, "add"),
    Kernel::entry(SOURCE, "mul"),
    Kernel::entry(SOURCE, "relu"),
    Kernel::entry(SOURCE, "relu_backward"),
    Kernel::entry(SOURCE, "add_assign"),
    Kernel::entry(SOURCE, "add_bias"),
    Kernel::entry(SOURCE, "sum_leading"),
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
pub(crate) fn dropout_mask(
    _b: &WebGpuBackend,
    _shape: &[usize],
    _rate: f32,
    _seed: u64,
    _stream: u32,
) -> Result<Tensor> {
    not_yet("webgpu dropout_mask")
}
pub(crate) fn broadcast_rows(_b: &WebGpuBackend, _v: &Tensor, _n: usize) -> Result<Tensor> {
    not_yet("webgpu broadcast_rows")
}
pub(crate) fn row_dot(_b: &WebGpuBackend, _a: &Tensor, _x: &Tensor) -> Result<Tensor> {
    not_yet("webgpu row_dot")
}
pub(crate) fn scale_rows(_b: &WebGpuBackend, _a: &Tensor, _s: &Tensor) -> Result<Tensor> {
    not_yet("webgpu scale_rows")
}
