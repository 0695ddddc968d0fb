//! Optimizer update kernels (one function per [`UpdateRule`]).

use super::Real;
use crate::error::Result;
use crate::optim::UpdateRule;
use crate::tensor::Tensor;

/// One in-place update step. Implemented by the optimizer work package.
// `T` is unused until the kernels land; drop this allow with the `todo!`.
#[allow(clippy::extra_unused_type_parameters)]
pub fn step<T: Real>(
    _rule: &UpdateRule,
    _step: u64,
    _lr: f32,
    _var: &mut Tensor,
    _grad: &Tensor,
    _slots: &mut [Tensor],
) -> Result<()> {
    todo!("optimizer kernels")
}
