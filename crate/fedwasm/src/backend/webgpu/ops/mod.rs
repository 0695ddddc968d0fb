//! The [`crate::backend::Backend`] operations on WebGPU, one module per
//! family, each with its WGSL file(s) under `kernels/` and its list of
//! kernels (`KERNELS`, registered in `kernels.rs`). Each function checks
//! shapes on the host (the CPU backend's messages), allocates its output and
//! records its dispatches; see `backend.rs` for the binding conventions.

pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod embed;
pub(crate) mod loss;
pub(crate) mod optim;

use crate::backend::shape::indices;
use crate::backend::webgpu::WebGpuBackend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Parameter word of an `f32` (read with `bitcast<f32>` in WGSL).
pub(crate) fn bits(x: f32) -> u32 {
    x.to_bits()
}

/// Parameter word of a size, or an error when it does not fit a `u32`.
pub(crate) fn word(op: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid(op, format!("size {n} does not fit in 32 bits")))
}

/// The class labels or embedding ids in `t` as indices in `0..limit`, read
/// from its host copy (the CPU backend's check and message): ids come from
/// host batches, and the WebGPU backend checks and groups them on the host.
///
/// # Errors
/// [`Error::InvalidArgument`] for an id that is not a whole number in
/// `0..limit`, or for a tensor computed on the device (no host copy).
pub(crate) fn host_indices(
    b: &WebGpuBackend,
    op: &'static str,
    t: &Tensor,
    limit: usize,
    what: &str,
) -> Result<Vec<usize>> {
    let host = b.gpu(op, t)?.host().ok_or_else(|| {
        Error::invalid(
            op,
            format!(
                "the {what} (shape {:?}) have no host copy: {what} must be uploaded from the \
                 host (Backend::upload), where the WebGPU backend checks them, not computed \
                 on the device",
                t.shape()
            ),
        )
    })?;
    indices(host, limit, op)
}
