//! Embedding lookups and their gradients, without atomics: the ids are
//! grouped on the host (see [`crate::backend`]).

use super::not_yet;
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::error::Result;
use crate::gradient::RowGradient;
use crate::tensor::Tensor;

pub(crate) const KERNELS: &[Kernel] = &[];

pub(crate) fn gather_rows(_b: &WebGpuBackend, _table: &Tensor, _ids: &Tensor) -> Result<Tensor> {
    not_yet("webgpu gather_rows")
}
pub(crate) fn scatter_add_rows(
    _b: &WebGpuBackend,
    _dy: &Tensor,
    _ids: &Tensor,
    _rows: usize,
) -> Result<Tensor> {
    not_yet("webgpu scatter_add_rows")
}
pub(crate) fn gather_rows_backward(
    _b: &WebGpuBackend,
    _dy: &Tensor,
    _ids: &Tensor,
    _rows: usize,
) -> Result<RowGradient> {
    not_yet("webgpu gather_rows_backward")
}
