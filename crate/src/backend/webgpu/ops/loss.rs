//! Softmax, the losses (fused softmax + cross-entropy, cross-entropy on
//! probabilities, mean squared error) and the metric reductions.

use super::not_yet;
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::backend::LossOutput;
use crate::error::Result;
use crate::tensor::Tensor;

pub(crate) const KERNELS: &[Kernel] = &[];

pub(crate) fn softmax(_b: &WebGpuBackend, _x: &Tensor) -> Result<Tensor> {
    not_yet("webgpu softmax")
}
pub(crate) fn softmax_backward(_b: &WebGpuBackend, _y: &Tensor, _dy: &Tensor) -> Result<Tensor> {
    not_yet("webgpu softmax_backward")
}
pub(crate) fn sparse_cross_entropy(
    _b: &WebGpuBackend,
    _p: &Tensor,
    _l: &Tensor,
) -> Result<LossOutput> {
    not_yet("webgpu sparse_cross_entropy")
}
pub(crate) fn softmax_cross_entropy(
    _b: &WebGpuBackend,
    _x: &Tensor,
    _l: &Tensor,
) -> Result<LossOutput> {
    not_yet("webgpu softmax_cross_entropy")
}
pub(crate) fn mean_squared_error(
    _b: &WebGpuBackend,
    _p: &Tensor,
    _t: &Tensor,
) -> Result<LossOutput> {
    not_yet("webgpu mean_squared_error")
}
pub(crate) fn count_correct(_b: &WebGpuBackend, _s: &Tensor, _l: &Tensor) -> Result<Tensor> {
    not_yet("webgpu count_correct")
}
pub(crate) fn count_within(
    _b: &WebGpuBackend,
    _p: &Tensor,
    _t: &Tensor,
    _tol: f32,
) -> Result<Tensor> {
    not_yet("webgpu count_within")
}
pub(crate) fn squared_error_sum(_b: &WebGpuBackend, _p: &Tensor, _t: &Tensor) -> Result<Tensor> {
    not_yet("webgpu squared_error_sum")
}
