//! [`WebGpuBackend`]: the [`Backend`] trait on a WebGPU device.
//!
//! Operations check shapes on the host at once, allocate their output
//! buffer, and record a dispatch into one pending command encoder; nothing
//! waits for the GPU until a tensor is read ([`Backend::read`],
//! [`Backend::read_many`]). The pending work is submitted every
//! [`SUBMIT_EVERY`] recorded commands (so the GPU starts early and released
//! buffers serve uploads again) and at every read.
//!
//! # Memory
//! Buffers come from the backend's pool and go back to it when their last
//! tensor drops (`pool.rs`, which states the reuse rules and why they keep
//! GPU work in order); [`WebGpuBackend::memory_stats`] counts them. Kernel
//! parameters do not get buffers of their own: each dispatch's block is a
//! slice, at the device's uniform offset alignment, of one uniform ring
//! buffer, staged on the host and written with `Queue::write_buffer` just
//! before the submission whose commands read it. The next submission's
//! blocks overwrite it; that is safe because the queue runs the write after
//! the previous submission. Shader modules, pipelines and their bind group
//! layouts are compiled once and cached, in [`GpuContext`].
//!
//! # Errors
//! Out-of-memory, validation and internal error scopes are opened with the
//! first operation after a read and closed by the next read, which returns
//! what they caught as [`Error::Gpu`] naming the first operation recorded in
//! between (GPU errors arrive asynchronously, so the failing operation itself
//! is not known). A lost device is [`Error::DeviceLost`] from then on: the
//! caller reruns the work on the CPU (see [`crate::federated`]).
//!
//! # Kernel conventions (for `ops/*.rs` and `kernels/*.wgsl`)
//! * Binding 0 is a uniform block of `u32` words (`f32` parameters as their
//!   bits: `bitcast<f32>` in WGSL); bindings 1.. are the storage buffers
//!   passed to [`WebGpuBackend::dispatch`], in order. Pipelines derive their
//!   layouts from the shader, so an entry point must use every binding it is
//!   given, and the uniform block (at least its element count) always.
//! * One-dimensional kernels ([`WebGpuBackend::dispatch_1d`]) use
//!   `@workgroup_size(256)` and the flat index
//!   `gid.x + gid.y * nwg.x * 256u` (`gid` the global invocation id, `nwg`
//!   the number of workgroups), returning when it is past the end: grids
//!   wider than the per-dimension limit fold into a second dimension.
//! * f32 only: no f64, no i64, no atomics.

use std::cell::{Cell, RefCell};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

use super::buffer::GpuBuffer;
use super::context::{describe, Compiled};
use super::kernels::{self, Kernel};
use super::matmul::MatmulDims;
use super::pool::{DeviceBuffer, MemoryStats, Pool, Writer};
use super::readback::{padded_bytes, read_f32};
use super::{ops, GpuContext};
use crate::backend::shape::matmul_dims;
use crate::backend::{
    Backend, BackendInfo, BackendKind, Conv2dGrads, LossOutput, Padding, ReadFuture, ReadManyFuture,
};
use crate::error::{Error, Result};
use crate::gradient::RowGradient;
use crate::optim::UpdateRule;
use crate::tensor::{checked_numel, Tensor, TensorData};

/// Recorded commands after which the pending work is submitted.
pub const SUBMIT_EVERY: usize = 64;

/// Bytes of the uniform ring: a 256-byte slot (WebGPU's largest uniform
/// offset alignment) for each of the [`SUBMIT_EVERY`] commands of one
/// submission. Work whose parameter blocks fill it sooner is submitted sooner.
const UNIFORM_RING_BYTES: usize = SUBMIT_EVERY * 256;

/// Workgroup size of one-dimensional kernels.
pub(crate) const WORKGROUP_1D: usize = 256;

/// Widest grid along x for one-dimensional kernels (WebGPU's default
/// per-dimension limit is 65,535 workgroups).
const MAX_GROUPS_X: usize = 32_768;

static NEXT_DEVICE_ID: AtomicU64 = AtomicU64::new(1);

/// The compute backend on a WebGPU device. See the module docs.
pub struct WebGpuBackend {
    ctx: GpuContext,
    /// The device's limits, read once (each read asks the browser).
    limits: wgpu::Limits,
    id: u64,
    pending: RefCell<Pending>,
    pool: Pool,
    /// Commands left before an injected device loss (testing the fallback).
    lose_after: Cell<Option<usize>>,
    /// Buffer mappings done so far (see [`WebGpuBackend::read_backs`]).
    read_backs: Cell<u64>,
}

/// Work recorded since the last read.
#[derive(Default)]
struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    /// Out-of-memory, validation and internal scopes, in push order.
    scopes: Vec<wgpu::ErrorScopeGuard>,
    first_op: Option<&'static str>,
    recorded: usize,
    /// The uniform ring (made on first use) and the parameter blocks staged
    /// for it by the commands recorded since the last submission.
    ring: Option<DeviceBuffer>,
    uniforms: Vec<u8>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Close unread scopes innermost first, as they were opened.
        while let Some(scope) = self.scopes.pop() {
            drop(scope);
        }
    }
}

impl std::fmt::Debug for WebGpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebGpuBackend")
            .field("adapter", self.ctx.adapter())
            .finish_non_exhaustive()
    }
}

impl WebGpuBackend {
    /// Gets a device ([`GpuContext::new`]). Kernels compile on first use.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] without an adapter; [`Error::Gpu`] when the
    /// device is refused.
    pub async fn new() -> Result<Self> {
        Ok(Self::with_context(GpuContext::new().await?))
    }

    /// The backend on an existing context.
    pub fn with_context(ctx: GpuContext) -> Self {
        WebGpuBackend {
            limits: ctx.device().limits(),
            pool: Pool::new(ctx.device().clone()),
            ctx,
            id: NEXT_DEVICE_ID.fetch_add(1, Ordering::Relaxed),
            pending: RefCell::new(Pending::default()),
            lose_after: Cell::new(None),
            read_backs: Cell::new(0),
        }
    }

    /// The device context (adapter, device, queue).
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Reads several tensors with one submission and one mapping.
    ///
    /// # Errors
    /// [`Error::Storage`] for a tensor not on this device; [`Error::Gpu`] or
    /// [`Error::DeviceLost`] for what the GPU reports.
    pub async fn read_tensors(&self, ts: &[&Tensor]) -> Result<Vec<Vec<f32>>> {
        const OP: &str = "webgpu read";
        let bufs = ts
            .iter()
            .map(|t| self.gpu(OP, t))
            .collect::<Result<Vec<_>>>()?;
        let offsets: Vec<usize> = bufs
            .iter()
            .scan(0, |acc, b| {
                let start = *acc;
                *acc += b.len();
                Some(start)
            })
            .collect();
        let total = bufs
            .iter()
            .try_fold(0usize, |n, b| n.checked_add(b.len()))
            .ok_or_else(|| Error::Limit {
                op: OP,
                what: format!("elements read back from {} tensors", bufs.len()),
                field: crate::limits::LimitField::TensorElements.name(),
                limit: crate::limits::Limits::current().max_tensor_elements,
                got: "overflow".into(),
            })?;
        let stage = if total > 0 {
            self.begin(OP)?;
            // A separate `MAP_READ | COPY_DST` buffer (a storage buffer
            // cannot be mapped), from the pool: written by the copies below.
            let (stage, _) = self.pool.take(
                "read-back",
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                padded_bytes(total),
                Writer::Encoder,
            );
            self.record(OP, |enc| {
                for (b, &off) in bufs.iter().zip(&offsets) {
                    if !b.is_empty() {
                        enc.copy_buffer_to_buffer(
                            b.buffer(),
                            0,
                            stage.buffer(),
                            off as u64 * 4,
                            b.len() as u64 * 4,
                        );
                    }
                }
            })?;
            Some(stage)
        } else {
            None
        };
        self.flush(OP).await?;
        let flat = match stage {
            Some(stage) => {
                self.read_backs.set(self.read_backs.get() + 1);
                match read_f32(&self.ctx, stage.buffer(), total, OP).await {
                    // Unmapped again: back to the pool when dropped.
                    Ok(flat) => flat,
                    Err(e) => {
                        // Perhaps still mapped: never reuse it.
                        stage.discard();
                        return Err(self.lost_or(e));
                    }
                }
            }
            None => Vec::new(),
        };
        Ok(bufs
            .iter()
            .zip(&offsets)
            .map(|(b, &o)| flat[o..o + b.len()].to_vec())
            .collect())
    }

    /// How many read-backs (staging-buffer mappings, each a wait for the
    /// device) this backend has done: a client's round should cost one.
    pub fn read_backs(&self) -> u64 {
        self.read_backs.get()
    }

    /// The device memory this backend holds: buffers created and not yet
    /// destroyed (in use, pooled, the uniform ring), pooled, created and
    /// reused so far. During training it stops growing after the first
    /// steps, whatever their number.
    pub fn memory_stats(&self) -> MemoryStats {
        self.pool.stats()
    }

    /// Bounds the bytes of idle buffers the pool keeps for reuse (default
    /// [`DEFAULT_POOL_LIMIT`](super::DEFAULT_POOL_LIMIT)); beyond it the
    /// longest idle ones are destroyed. Returns the previous bound. With 0,
    /// every buffer is destroyed as soon as its last tensor drops and its
    /// work is submitted: no reuse.
    pub fn set_pool_limit(&self, bytes: u64) -> u64 {
        self.pool.set_limit(bytes)
    }

    /// Destroys the idle pooled buffers now (those that unsubmitted work
    /// may still use go at its submission if the pool is over its bound):
    /// for a host that wants the memory back between rounds.
    pub fn trim_pool(&self) {
        self.pool.trim();
    }

    /// Submits everything recorded and returns what the error scopes caught.
    ///
    /// # Errors
    /// [`Error::Gpu`] naming the first operation recorded since the last
    /// flush; [`Error::DeviceLost`] when the device is gone.
    pub async fn flush(&self, op: &'static str) -> Result<()> {
        let (scopes, first) = {
            let mut p = self.pending.borrow_mut();
            self.submit(&mut p);
            (std::mem::take(&mut p.scopes), p.first_op.take())
        };
        let mut caught = None;
        // Pop in reverse order of pushing.
        for scope in scopes.into_iter().rev() {
            if let Some(e) = scope.pop().await {
                caught.get_or_insert(e);
            }
        }
        self.ctx.check(op)?;
        match caught {
            Some(e) => Err(Error::gpu(
                first.unwrap_or(op),
                format!(
                    "{} (in the GPU work recorded from this operation up to {op})",
                    describe(&e)
                ),
            )),
            None => Ok(()),
        }
    }

    /// Destroys the device, as a driver reset would: every later operation
    /// fails with [`Error::DeviceLost`]. For testing the CPU fallback.
    pub fn simulate_device_loss(&self) {
        self.ctx.device().destroy();
    }

    /// Destroys the device ([`WebGpuBackend::simulate_device_loss`]) once
    /// `commands` more commands have been recorded: a loss in the middle of
    /// a client's training, for testing the CPU fallback.
    pub fn simulate_device_loss_after(&self, commands: usize) {
        self.lose_after.set(Some(commands));
    }

    // ---- for ops/*.rs ----

    /// The device storage of `t`, or [`Error::Storage`] when it is a host
    /// tensor or belongs to another device.
    pub(crate) fn gpu<'t>(&self, op: &'static str, t: &'t Tensor) -> Result<&'t GpuBuffer> {
        match t.data() {
            TensorData::Gpu(g) if g.device_id() == self.id => Ok(g),
            TensorData::Gpu(_) => Err(Error::Storage {
                op,
                detail: format!(
                    "operand of shape {:?} is on another WebGPU device",
                    t.shape()
                ),
            }),
            _ => Err(Error::Storage {
                op,
                detail: format!(
                    "operand of shape {:?} is a host {:?} tensor; upload it with this backend first",
                    t.shape(),
                    t.precision()
                ),
            }),
        }
    }

    /// The device buffer of `t` (as [`WebGpuBackend::gpu`]).
    pub(crate) fn buf<'t>(&self, op: &'static str, t: &'t Tensor) -> Result<&'t DeviceBuffer> {
        Ok(self.gpu(op, t)?.device_buffer())
    }

    /// A new device tensor of `shape` whose every element the caller's
    /// commands write: its contents are stale when it comes from the pool
    /// (use [`WebGpuBackend::alloc_zeroed`] where zeros are relied on).
    ///
    /// # Errors
    /// [`Error::Limit`] when the shape overflows or exceeds the tensor
    /// limit; [`Error::InvalidArgument`] when it exceeds the storage-binding
    /// limit.
    pub(crate) fn alloc(&self, op: &'static str, shape: &[usize]) -> Result<Tensor> {
        Ok(self.alloc_reused(op, shape)?.0)
    }

    /// [`WebGpuBackend::alloc`] filled with zeros: a pooled buffer is
    /// cleared by a command recorded before any that uses it.
    ///
    /// # Errors
    /// As [`WebGpuBackend::alloc`].
    pub(crate) fn alloc_zeroed(&self, op: &'static str, shape: &[usize]) -> Result<Tensor> {
        let (t, reused) = self.alloc_reused(op, shape)?;
        if reused {
            let b = self.buf(op, &t)?;
            self.record(op, |enc| enc.clear_buffer(b.buffer(), 0, Some(b.bytes())))?;
        }
        Ok(t)
    }

    /// [`WebGpuBackend::alloc`] and whether the buffer came from the pool.
    fn alloc_reused(&self, op: &'static str, shape: &[usize]) -> Result<(Tensor, bool)> {
        let len = checked_numel(op, shape)?;
        self.check_size(op, shape, len)?;
        self.begin(op)?;
        let (buffer, reused) =
            self.pool
                .take(op, storage_usage(), padded_bytes(len), Writer::Encoder);
        let t = Tensor::from_data(
            shape,
            TensorData::Gpu(GpuBuffer::new(buffer, len, self.id, None)),
        )?;
        Ok((t, reused))
    }

    /// A storage buffer holding `bytes` (a multiple of 4), written through
    /// the queue rather than mapped at creation: on a lost device that is a
    /// reported error, where mapping panics.
    fn upload_bytes(&self, op: &'static str, bytes: &[u8]) -> DeviceBuffer {
        let size = padded_bytes(bytes.len() / 4);
        let (buffer, _) = self.pool.take(op, storage_usage(), size, Writer::Queue);
        if !bytes.is_empty() {
            self.ctx.queue().write_buffer(buffer.buffer(), 0, bytes);
        }
        buffer
    }

    /// A storage buffer of `u32`s (index lists), at least 4 bytes.
    ///
    /// # Errors
    /// As [`WebGpuBackend::alloc`].
    pub(crate) fn upload_u32(&self, op: &'static str, data: &[u32]) -> Result<DeviceBuffer> {
        self.check_size(op, &[data.len()], data.len())?;
        self.begin(op)?;
        Ok(self.upload_bytes(op, bytemuck::cast_slice(data)))
    }

    /// Makes `t` the only owner of its device buffer, copying a shared one,
    /// and drops its host copy: call before updating `t` in place.
    ///
    /// # Errors
    /// As [`WebGpuBackend::gpu`].
    pub(crate) fn make_unique(&self, op: &'static str, t: &mut Tensor) -> Result<()> {
        self.gpu(op, t)?;
        let TensorData::Gpu(g) = t.data_mut() else {
            unreachable!("checked by gpu()")
        };
        if g.forget_host() {
            return Ok(());
        }
        let copy = self.alloc(op, t.shape())?;
        let (src, dst) = (self.buf(op, t)?, self.buf(op, &copy)?);
        let bytes = t.len() as u64 * 4;
        if bytes > 0 {
            self.record(op, |enc| {
                enc.copy_buffer_to_buffer(src.buffer(), 0, dst.buffer(), 0, bytes)
            })?;
        }
        *t = copy;
        Ok(())
    }

    /// Records one dispatch of `kernel` with `params` at binding 0 and
    /// `buffers` at bindings 1.. (see the module docs); a grid with a zero
    /// dimension records nothing.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the grid exceeds the device's
    /// workgroup-count limit; [`Error::Gpu`] for an unknown kernel.
    pub(crate) fn dispatch(
        &self,
        op: &'static str,
        kernel: &'static str,
        params: &[u32],
        buffers: &[&DeviceBuffer],
        groups: [u32; 3],
    ) -> Result<()> {
        if groups.contains(&0) {
            return Ok(());
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::invalid(
                op,
                format!("grid {groups:?} exceeds the device's {max} workgroups per dimension"),
            ));
        }
        // Scopes open before any resource is created, so what goes wrong
        // here is caught and reported by the next read.
        self.begin(op)?;
        let compiled = self.kernel(op, kernel)?;
        // Uniform blocks are read in 16-byte units: pad to whole vec4s.
        let mut words = params.to_vec();
        words.resize(params.len().div_ceil(4).max(1) * 4, 0);
        let block: &[u8] = bytemuck::cast_slice(&words);
        let (ring, offset) = self.stage_uniforms(op, block)?;
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &ring,
                offset,
                size: NonZeroU64::new(block.len() as u64),
            }),
        }];
        entries.extend(
            buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: b.binding(),
                }),
        );
        let bind = self
            .ctx
            .device()
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel),
                layout: &compiled.layout,
                entries: &entries,
            });
        self.record(op, |enc| {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel),
                timestamp_writes: None,
            });
            pass.set_pipeline(&compiled.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        })
    }

    /// [`WebGpuBackend::dispatch`] of a one-dimensional kernel over
    /// `threads` invocations (see the module docs for the index).
    ///
    /// # Errors
    /// As [`WebGpuBackend::dispatch`].
    pub(crate) fn dispatch_1d(
        &self,
        op: &'static str,
        kernel: &'static str,
        params: &[u32],
        buffers: &[&DeviceBuffer],
        threads: usize,
    ) -> Result<()> {
        let groups = threads.div_ceil(WORKGROUP_1D);
        let x = groups.min(MAX_GROUPS_X);
        let y = if groups == 0 { 0 } else { groups.div_ceil(x) };
        self.dispatch(op, kernel, params, buffers, [x as u32, y as u32, 1])
    }

    /// The pipeline of a registered kernel and its bind group layout,
    /// compiled on first use (inside the pending error scopes: a kernel that
    /// fails to compile is reported by the next read) and cached by the
    /// context.
    ///
    /// # Errors
    /// [`Error::Gpu`] for a kernel missing from the registry.
    fn kernel(&self, op: &'static str, kernel: &'static str) -> Result<Compiled> {
        if let Some(c) = self.ctx.cached(kernel) {
            return Ok(c);
        }
        let k = kernels::find(kernel).ok_or_else(|| {
            Error::gpu(
                op,
                format!("kernel {kernel:?} is not registered in kernels.rs"),
            )
        })?;
        self.begin(op)?;
        Ok(self.ctx.pipeline_now(k.name, k.source, k.entry))
    }

    /// Stages a parameter block for the next submission and returns the
    /// uniform ring and the block's offset in it (see the module docs);
    /// submits first when the ring is full.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a block larger than the ring.
    fn stage_uniforms(&self, op: &'static str, block: &[u8]) -> Result<(wgpu::Buffer, u64)> {
        let align = self.limits.min_uniform_buffer_offset_alignment as usize;
        let slot = block.len().div_ceil(align) * align;
        if slot > UNIFORM_RING_BYTES {
            return Err(Error::invalid(
                op,
                format!(
                    "a {}-byte parameter block exceeds the {UNIFORM_RING_BYTES}-byte uniform ring",
                    block.len()
                ),
            ));
        }
        let mut p = self.pending.borrow_mut();
        if p.uniforms.len() + slot > UNIFORM_RING_BYTES {
            self.submit(&mut p);
        }
        let ring = p
            .ring
            .get_or_insert_with(|| {
                self.pool
                    .take(
                        "uniform ring",
                        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        UNIFORM_RING_BYTES as u64,
                        Writer::Queue,
                    )
                    .0
            })
            .buffer()
            .clone();
        let offset = p.uniforms.len();
        p.uniforms.extend_from_slice(block);
        p.uniforms.resize(offset + slot, 0);
        Ok((ring, offset as u64))
    }

    // ---- pending work ----

    /// Opens the error scopes for the work about to be recorded, once per
    /// flush, and fails at once on a lost device.
    fn begin(&self, op: &'static str) -> Result<()> {
        self.ctx.check(op)?;
        let mut p = self.pending.borrow_mut();
        if p.scopes.is_empty() {
            let device = self.ctx.device();
            p.scopes = vec![
                device.push_error_scope(wgpu::ErrorFilter::OutOfMemory),
                device.push_error_scope(wgpu::ErrorFilter::Validation),
                device.push_error_scope(wgpu::ErrorFilter::Internal),
            ];
            p.first_op = Some(op);
        }
        Ok(())
    }

    /// Records into the pending encoder, submitting every [`SUBMIT_EVERY`] commands.
    fn record<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut wgpu::CommandEncoder) -> T,
    ) -> Result<T> {
        self.begin(op)?;
        let mut p = self.pending.borrow_mut();
        let device = self.ctx.device();
        let enc = p.encoder.get_or_insert_with(|| {
            // From now on a released buffer may be in this encoder's commands.
            self.pool.opened();
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("fedwasm"),
            })
        });
        let out = f(enc);
        p.recorded += 1;
        if let Some(left) = self.lose_after.get() {
            self.lose_after.set(left.checked_sub(1));
            if left == 0 {
                self.simulate_device_loss();
            }
        }
        if p.recorded >= SUBMIT_EVERY {
            self.submit(&mut p);
        }
        Ok(out)
    }

    /// Writes the staged parameter blocks into the uniform ring, then
    /// submits the pending encoder (in this order: the queue runs the write
    /// before the commands that read it, after those of the last submission).
    fn submit(&self, p: &mut Pending) {
        if let Some(enc) = p.encoder.take() {
            if let (Some(ring), false) = (&p.ring, p.uniforms.is_empty()) {
                self.ctx.queue().write_buffer(ring.buffer(), 0, &p.uniforms);
            }
            self.ctx.queue().submit([enc.finish()]);
            // Natively, let wgpu retire what finished; the browser does it itself.
            #[cfg(not(target_arch = "wasm32"))]
            let _ = self.ctx.device().poll(wgpu::PollType::Poll);
        }
        p.uniforms.clear();
        p.recorded = 0;
        self.pool.submitted();
    }

    fn check_size(&self, op: &'static str, shape: &[usize], len: usize) -> Result<()> {
        let max = self.limits.max_storage_buffer_binding_size;
        if padded_bytes(len) > max {
            return Err(Error::invalid(
                op,
                format!("a tensor of shape {shape:?} exceeds the device's {max}-byte storage binding limit"),
            ));
        }
        Ok(())
    }

    /// [`Error::DeviceLost`] when the device is gone, else `e`.
    fn lost_or(&self, e: Error) -> Error {
        match self.ctx.check("webgpu read") {
            Err(lost @ Error::DeviceLost { .. }) => lost,
            _ => e,
        }
    }
}

fn storage_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

impl Backend for WebGpuBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Webgpu,
            adapter: self.ctx.adapter().to_string(),
        }
    }

    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        const OP: &str = "webgpu upload";
        let len = checked_numel(OP, shape)?;
        if data.len() != len {
            return Err(Error::DataLength {
                op: OP,
                shape: shape.to_vec(),
                len: data.len(),
            });
        }
        self.check_size(OP, shape, len)?;
        self.begin(OP)?;
        let buffer = self.upload_bytes(OP, bytemuck::cast_slice(data));
        Tensor::from_data(
            shape,
            TensorData::Gpu(GpuBuffer::new(buffer, len, self.id, Some(data.to_vec()))),
        )
    }

    fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        self.alloc_zeroed("webgpu zeros", shape)
    }

    fn read<'a>(&'a self, t: &'a Tensor) -> ReadFuture<'a> {
        Box::pin(async move {
            let mut out = self.read_tensors(&[t]).await?;
            Ok(out.pop().unwrap_or_default())
        })
    }

    fn read_many<'a>(&'a self, ts: &'a [&'a Tensor]) -> ReadManyFuture<'a> {
        Box::pin(self.read_tensors(ts))
    }

    fn matmul(&self, a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
        const OP: &str = "webgpu matmul";
        let (m, k, n) = matmul_dims(OP, a, b, ta, tb)?;
        let dims = MatmulDims { m, k, n, ta, tb };
        dims.check(&self.ctx)?;
        let (ab, bb) = (self.buf(OP, a)?, self.buf(OP, b)?);
        let out = self.alloc(OP, &[m, n])?;
        let (wx, wy) = dims.workgroups();
        self.dispatch(
            OP,
            dims.kernel().name(),
            &dims.params(),
            &[ab, bb, self.buf(OP, &out)?],
            [wx as u32, wy as u32, 1],
        )?;
        Ok(out)
    }

    fn add_bias(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        ops::elementwise::add_bias(self, x, bias)
    }
    fn sum_leading(&self, dy: &Tensor) -> Result<Tensor> {
        ops::elementwise::sum_leading(self, dy)
    }
    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        ops::elementwise::add(self, a, b)
    }
    fn mul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        ops::elementwise::mul(self, a, b)
    }
    fn add_assign(&self, acc: &mut Tensor, x: &Tensor) -> Result<()> {
        ops::elementwise::add_assign(self, acc, x)
    }
    fn relu(&self, x: &Tensor) -> Result<Tensor> {
        ops::elementwise::relu(self, x)
    }
    fn relu_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        ops::elementwise::relu_backward(self, y, dy)
    }
    fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        ops::loss::softmax(self, x)
    }
    fn softmax_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        ops::loss::softmax_backward(self, y, dy)
    }
    fn dropout_mask(&self, shape: &[usize], rate: f32, seed: u64, stream: u32) -> Result<Tensor> {
        ops::elementwise::dropout_mask(self, shape, rate, seed, stream)
    }
    fn conv2d(&self, x: &Tensor, w: &Tensor, b: &Tensor, padding: Padding) -> Result<Tensor> {
        ops::conv::conv2d(self, x, w, b, padding)
    }
    fn conv2d_backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
        padding: Padding,
        need_dx: bool,
    ) -> Result<Conv2dGrads> {
        ops::conv::conv2d_backward(self, x, w, dy, padding, need_dx)
    }
    fn max_pool2d(&self, x: &Tensor) -> Result<Tensor> {
        ops::conv::max_pool2d(self, x)
    }
    fn max_pool2d_backward(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        ops::conv::max_pool2d_backward(self, x, dy)
    }
    fn gather_rows(&self, table: &Tensor, ids: &Tensor) -> Result<Tensor> {
        ops::embed::gather_rows(self, table, ids)
    }
    fn scatter_add_rows(&self, dy: &Tensor, ids: &Tensor, rows: usize) -> Result<Tensor> {
        ops::embed::scatter_add_rows(self, dy, ids, rows)
    }
    fn gather_rows_backward(&self, dy: &Tensor, ids: &Tensor, rows: usize) -> Result<RowGradient> {
        ops::embed::gather_rows_backward(self, dy, ids, rows)
    }
    fn broadcast_rows(&self, v: &Tensor, n: usize) -> Result<Tensor> {
        ops::elementwise::broadcast_rows(self, v, n)
    }
    fn row_dot(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        ops::elementwise::row_dot(self, a, b)
    }
    fn scale_rows(&self, a: &Tensor, s: &Tensor) -> Result<Tensor> {
        ops::elementwise::scale_rows(self, a, s)
    }
    fn sparse_cross_entropy(&self, probs: &Tensor, labels: &Tensor) -> Result<LossOutput> {
        ops::loss::sparse_cross_entropy(self, probs, labels)
    }
    fn softmax_cross_entropy(&self, logits: &Tensor, labels: &Tensor) -> Result<LossOutput> {
        ops::loss::softmax_cross_entropy(self, logits, labels)
    }
    fn mean_squared_error(&self, pred: &Tensor, target: &Tensor) -> Result<LossOutput> {
        ops::loss::mean_squared_error(self, pred, target)
    }
    fn count_correct(&self, scores: &Tensor, labels: &Tensor) -> Result<Tensor> {
        ops::loss::count_correct(self, scores, labels)
    }
    fn count_within(&self, pred: &Tensor, target: &Tensor, tol: f32) -> Result<Tensor> {
        ops::loss::count_within(self, pred, target, tol)
    }
    fn squared_error_sum(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
        ops::loss::squared_error_sum(self, pred, target)
    }
    fn add_count_finite(&self, count: &mut Tensor, x: &Tensor) -> Result<()> {
        ops::loss::add_count_finite(self, count, x)
    }
    fn optimizer_step(
        &self,
        rule: &UpdateRule,
        step: u64,
        lr: f32,
        var: &mut Tensor,
        grad: &Tensor,
        slots: &mut [Tensor],
    ) -> Result<()> {
        ops::optim::optimizer_step(self, rule, step, lr, var, grad, slots)
    }
    fn optimizer_step_rows(
        &self,
        rule: &UpdateRule,
        step: u64,
        lr: f32,
        var: &mut Tensor,
        grad: &RowGradient,
        slots: &mut [Tensor],
    ) -> Result<()> {
        ops::optim::optimizer_step_rows(self, rule, step, lr, var, grad, slots)
    }
}

/// The names of every registered kernel.
pub fn kernel_names() -> Vec<&'static str> {
    kernels::all().map(|k: &Kernel| k.name).collect()
}
