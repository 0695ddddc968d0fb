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

use crate::error::{Error, Result};

/// Parameter word of an `f32` (read with `bitcast<f32>` in WGSL).
pub(crate) fn bits(x: f32) -> u32 {
    x.to_bits()
}

/// Parameter word of a size, or an error when it does not fit a `u32`.
pub(crate) fn word(op: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid(op, format!("size {n} does not fit in 32 bits")))
}
