//! Optimizer updates in place: SGD (with momentum, Nesterov), Adam,
//! Adagrad, Yogi and RMSprop, dense and on the rows of a sparse gradient.

use super::not_yet;
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::error::Result;
use crate::gradient::RowGradient;
use crate::optim::UpdateRule;
use crate::tensor::Tensor;

pub(crate) const KERNELS: &[Kernel] = &[];

pub(crate) fn optimizer_step(
    _b: &WebGpuBackend,
    _rule: &UpdateRule,
    _step: u64,
    _lr: f32,
    _var: &mut Tensor,
    _grad: &Tensor,
    _slots: &mut [Tensor],
) -> Result<()> {
    not_yet("webgpu optimizer_step")
}
pub(crate) fn optimizer_step_rows(
    _b: &WebGpuBackend,
    _rule: &UpdateRule,
    _step: u64,
    _lr: f32,
    _var: &mut Tensor,
    _grad: &RowGradient,
    _slots: &mut [Tensor],
) -> Result<()> {
    not_yet("webgpu optimizer_step_rows")
}
