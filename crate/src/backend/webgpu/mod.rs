//! WebGPU compute through wgpu: the groundwork of the WebGPU backend.
//!
//! wgpu runs on Vulkan natively (Mesa's llvmpipe in CI) and on the browser's
//! WebGPU in wasm32. So far: getting a device ([`GpuContext`]: adapter
//! info, GPU errors as [`crate::Error::Gpu`] through error scopes, no
//! adapter as [`crate::Error::NoAdapter`]), the tiled GEMM kernel
//! (`kernels/matmul.wgsl`) and its host side ([`mod@matmul`]), with asynchronous
//! read-back that never blocks in wasm ([`GpuContext::wait`],
//! `readback.rs`). The [`crate::backend::Backend`] trait is not implemented
//! yet; the design below is the plan for it.
//!
//! Kernels are WGSL files under `kernels/`, f32 only: no f64, no i64 and no
//! atomics (`crate/tests/webgpu.rs` validates each with naga under empty
//! capabilities, which rejects all three).
//!
//! # Proposed design: device-resident tensors
//!
//! **Data layout.** A device tensor is one `wgpu::Buffer` (usage `STORAGE |
//! COPY_SRC | COPY_DST`) holding the tensor's elements as `f32` in exactly
//! the layout of [`crate::tensor`] (row-major; NHWC images, HWIO kernels;
//! labels and ids as whole-number `f32` below 2^24), with no offset and no
//! strides: transposes stay flags of the kernels, as in the GEMM's strides.
//! Its byte size is rounded up to `COPY_BUFFER_ALIGNMENT` and is at least 4
//! (zero-sized bindings are invalid). The shape stays in `Tensor`.
//!
//! **In `Tensor`.** `TensorData` (already `#[non_exhaustive]`) gains a
//! variant `Gpu(GpuBuffer)`: the buffer, its element count, a handle to the
//! device and queue (cheap reference-counted clones in wgpu) and, for
//! tensors uploaded from host batches (labels, embedding ids), the host copy
//! that `gather_rows_backward` groups on the host (see [`crate::backend`]).
//! `Clone` records a buffer-to-buffer copy (queue order keeps it after every
//! earlier write), `PartialEq` compares buffer identity, and the host
//! accessors (`as_f32`, `get`) answer `None`/fail, so a GPU tensor handed to
//! the CPU backend is the existing [`crate::Error::Storage`] error.
//!
//! **Operations.** `upload` uses `create_buffer_init`, `zeros` a plain
//! buffer (WebGPU zero-fills). Each operation checks shapes and device
//! limits on the host at once, then records its dispatch (as
//! [`matmul::encode_matmul`] does) into one pending command encoder; in-place
//! operations (`add_assign`, optimizer steps) bind the tensor's own buffer
//! read-write. Weights, optimizer slots and activations so stay on the GPU
//! for a whole local epoch; metric sums are `[1]` buffers read once at the end.
//!
//! **`Backend::read`.** Submits the pending encoder plus a copy of the
//! tensor into a `MAP_READ | COPY_DST` staging buffer (pooled by size), then
//! awaits `map_async` through a one-shot channel (`GpuContext::drive`: the
//! device is polled natively, the browser fires the callback in wasm),
//! copies the bytes out and unmaps. Operations are synchronous but GPU
//! errors arrive asynchronously, so one error scope spans each submission
//! and what it catches is returned, as [`crate::Error::Gpu`] naming the first
//! recorded operation, by the `read` that flushes it.

mod backend;
mod buffer;
mod context;
mod kernels;
pub mod matmul;
mod ops;
mod readback;
mod signal;

pub use backend::{kernel_names, WebGpuBackend, SUBMIT_EVERY};
pub use buffer::GpuBuffer;
pub use context::{AdapterSummary, GpuContext};
pub use matmul::{matmul, matmul_many, matmul_tensors, MatmulDims, MatmulJob, MATMUL_WGSL};
#[doc(hidden)]
pub use ops::conv::{set_conv_dispatch_rows, set_conv_method, set_conv_scratch_bytes, ConvMethod};
