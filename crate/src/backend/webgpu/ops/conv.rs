//! 2-D convolution (NHWC, HWIO, stride 1) forward and backward, and 2x2 max pooling.

use super::not_yet;
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::backend::{Conv2dGrads, Padding};
use crate::error::Result;
use crate::tensor::Tensor;

pub(crate) const KERNELS: &[Kernel] = &[];

pub(crate) fn conv2d(
    _b: &WebGpuBackend,
    _x: &Tensor,
    _w: &Tensor,
    _bias: &Tensor,
    _p: Padding,
) -> Result<Tensor> {
    not_yet("webgpu conv2d")
}
pub(crate) fn conv2d_backward(
    _b: &WebGpuBackend,
    _x: &Tensor,
    _w: &Tensor,
    _dy: &Tensor,
    _p: Padding,
    _need_dx: bool,
) -> Result<Conv2dGrads> {
    not_yet("webgpu conv2d_backward")
}
pub(crate) fn max_pool2d(_b: &WebGpuBackend, _x: &Tensor) -> Result<Tensor> {
    not_yet("webgpu max_pool2d")
}
pub(crate) fn max_pool2d_backward(_b: &WebGpuBackend, _x: &Tensor, _dy: &Tensor) -> Result<Tensor> {
    not_yet("webgpu max_pool2d_backward")
}
