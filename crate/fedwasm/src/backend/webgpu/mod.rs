//! The WebGPU backend: [`WebGpuBackend`], every [`crate::backend::Backend`]
//! operation as WGSL compute kernels through wgpu (Vulkan/Metal/DX12
//! natively, Mesa's llvmpipe in CI; the browser's WebGPU in wasm32).
//!
//! # Data layout
//! A device tensor ([`crate::tensor::TensorData::Gpu`], see [`GpuBuffer`])
//! is one storage buffer of `f32`s in exactly the layout of
//! [`crate::tensor`]: row-major, NHWC images, HWIO kernels, labels and ids
//! as whole-number `f32`s below 2^24; offset 0, no strides (transposes are
//! kernel flags, as in the GEMM). The shape stays in the `Tensor`. Tensors
//! uploaded from the host keep a host copy until modified in place, which is
//! how label and id checks and the grouping of embedding gradients happen
//! on the host, with no atomics on the device.
//!
//! # Execution
//! Operations check shapes at once on the host, allocate their outputs and
//! record dispatches into one pending command encoder (`backend.rs`); in-place
//! operations (`add_assign`, optimizer steps) copy a shared buffer first, so
//! tensor clones never alias. Weights, optimizer slots, activations and
//! metric sums so stay on the device for a whole local epoch; batches are
//! uploaded; [`crate::backend::Backend::read_many`] reads results back with
//! one submission and one `map_async` at the end (awaited: nothing blocks in
//! wasm; natively the device is polled). One set of error scopes spans the
//! work between two reads and turns what it catches into
//! [`crate::Error::Gpu`]; a lost device is [`crate::Error::DeviceLost`], on
//! which federated rounds rerun the client on the CPU.
//!
//! # Memory
//! Device memory stays flat however long training runs, in browsers too,
//! where dropping a `wgpu::Buffer` frees nothing until the garbage collector
//! runs. Every buffer comes from a size-bucketed pool (`pool.rs`) and goes
//! back to it when the last clone of its tensor drops; the pool destroys
//! (`destroy()`, never left to the collector) what it holds beyond its bound
//! ([`WebGpuBackend::set_pool_limit`], [`WebGpuBackend::trim_pool`]). Kernel
//! parameters are slices of one uniform ring buffer, written once per
//! submission; shader modules, pipelines and bind group layouts are
//! compiled once. [`WebGpuBackend::memory_stats`] counts live, pooled,
//! created and reused buffers ([`MemoryStats`]).
//!
//! The invariant that keeps reuse correct: *a released buffer's next
//! contents are written after its last use in queue order.* WebGPU runs
//! submissions in order and the commands of one encoder in order, and a
//! `Queue::write_buffer` between two submissions. So a buffer released
//! while the pending encoder may still read it is handed out again only to
//! be written by commands recorded after it into that same encoder (kernel
//! outputs, copies, clears), and to uploads (`write_buffer`, which would run
//! before that encoder) or destruction only once that encoder is submitted.
//! Reused buffers are not zeroed: callers that rely on zeros (`zeros`, the
//! embedding scatter, empty convolution gradients) clear them with a
//! recorded command; every other kernel writes its whole output. Kernels
//! bind exactly their tensor's bytes, never the slack of a size class.
//!
//! Kernels are WGSL files under `kernels/`, f32 only: no f64, no i64 and no
//! atomics (`crate/tests/webgpu.rs` validates each with naga under empty
//! capabilities, which rejects all three). [`GpuContext`] (adapter, device,
//! error scopes) and the standalone GEMM ([`mod@matmul`]) are public for
//! benchmarks and tools.

mod backend;
mod buffer;
mod context;
mod kernels;
pub mod matmul;
mod ops;
mod pool;
mod readback;
mod signal;

pub use backend::{kernel_names, WebGpuBackend, SUBMIT_EVERY};
pub use buffer::GpuBuffer;
pub use context::{AdapterSummary, GpuContext};
pub use matmul::{
    matmul, matmul_many, matmul_tensors, MatmulDims, MatmulJob, MatmulKernel, MATMUL_SMALL_WGSL,
    MATMUL_WGSL,
};
#[doc(hidden)]
pub use ops::conv::{set_conv_dispatch_rows, set_conv_method, set_conv_scratch_bytes, ConvMethod};
pub use pool::{MemoryStats, DEFAULT_POOL_LIMIT};
