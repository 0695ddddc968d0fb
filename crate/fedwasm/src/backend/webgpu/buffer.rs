//! Device tensors: the storage behind [`crate::tensor::TensorData::Gpu`].
//!
//! # Layout
//! A [`GpuBuffer`] is one `wgpu::Buffer` (usage `STORAGE | COPY_SRC |
//! COPY_DST`) holding `len` `f32`s in the row-major layout of
//! [`crate::tensor`], at offset 0, no strides. The tensor's bytes are
//! `4 * len` rounded up to the copy alignment, and at least 4 (zero-sized
//! bindings are invalid); kernels bind exactly those. The buffer itself comes
//! from the backend's pool and may be larger (its size class, see `pool.rs`);
//! bytes past the tensor's are unspecified. The shape lives in the
//! [`crate::Tensor`].
//!
//! Tensors uploaded from the host keep a host copy ([`GpuBuffer::host`])
//! until they are first modified in place: embedding ids come from host
//! batches, and the gradient of a lookup groups them on the host, so no
//! kernel needs atomics (see [`crate::backend`]).
//!
//! Cloning a `GpuBuffer` shares the device buffer (it is reference-counted).
//! Operations never write their inputs; the in-place ones (`add_assign`,
//! optimizer steps) first copy a shared buffer (copy on write, see
//! `WebGpuBackend::make_unique`), so a clone never sees a later update.
//! When the last clone drops, the buffer goes back to the backend's pool
//! (destroyed if the backend is gone): nothing waits for a garbage collector.

use std::sync::Arc;

use super::pool::DeviceBuffer;

/// A tensor's elements on a WebGPU device. See the module docs.
#[derive(Clone)]
pub struct GpuBuffer {
    inner: Arc<Inner>,
}

struct Inner {
    buffer: DeviceBuffer,
    len: usize,
    /// Which backend instance made it (tensors of another device are refused).
    device_id: u64,
    /// The uploaded elements, until the first in-place update.
    host: Option<Vec<f32>>,
}

impl GpuBuffer {
    pub(crate) fn new(
        buffer: DeviceBuffer,
        len: usize,
        device_id: u64,
        host: Option<Vec<f32>>,
    ) -> Self {
        GpuBuffer {
            inner: Arc::new(Inner {
                buffer,
                len,
                device_id,
                host,
            }),
        }
    }

    /// Number of `f32` elements.
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// The device buffer: the tensor's elements are its first `4 * len`
    /// bytes; the buffer may be larger (see the module docs).
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.inner.buffer.buffer()
    }

    /// The pooled buffer, as kernels bind it.
    pub(crate) fn device_buffer(&self) -> &DeviceBuffer {
        &self.inner.buffer
    }

    /// The host copy of an uploaded tensor that was not modified since.
    pub fn host(&self) -> Option<&[f32]> {
        self.inner.host.as_deref()
    }

    pub(crate) fn device_id(&self) -> u64 {
        self.inner.device_id
    }

    /// Forgets the host copy before an in-place update of an unshared buffer
    /// (returns false, changing nothing, when the buffer is shared).
    pub(crate) fn forget_host(&mut self) -> bool {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                inner.host = None;
                true
            }
            None => false,
        }
    }
}

impl PartialEq for GpuBuffer {
    /// The same device buffer (element values are on the device).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for GpuBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBuffer")
            .field("len", &self.inner.len)
            .field("device_id", &self.inner.device_id)
            .field("host_copy", &self.inner.host.is_some())
            .finish_non_exhaustive()
    }
}
