//! Device memory of the WebGPU backend: every buffer it uses comes from a
//! size-bucketed pool and goes back to it, and nothing is left for a
//! garbage collector to free.
//!
//! # Why
//! In a browser, dropping a `wgpu::Buffer` frees nothing: the memory goes
//! when V8 collects the JavaScript wrapper, which it does when the *host*
//! heap is under pressure, not the GPU. A training step allocates dozens of
//! buffers, so without this a real device runs out of memory or is lost.
//! So every buffer here either returns to the pool when its last owner drops
//! ([`DeviceBuffer`]'s `Drop`) or is `destroy()`ed explicitly (the pool over
//! its limit, [`Pool::trim`], the pool itself dropped).
//!
//! # Buckets
//! A request of `n` bytes is served by a buffer of its *size class*: 256 B
//! at least, then four classes per power of two (`1, 1.25, 1.5, 1.75` times
//! `2^k`), so a buffer is at most 25% larger than the largest request it
//! serves, and a batch one row shorter reuses the full batch's buffers.
//! Free buffers are kept per (usage, class), most recently released first.
//! Kernels bind exactly the bytes asked for ([`DeviceBuffer::binding`]),
//! never the whole buffer, so the slack of a class is never visible: a
//! shader's `arrayLength` and WebGPU's bounds checks see the tensor.
//!
//! # Reuse and the order of GPU work
//! A buffer may be released while the GPU still has to read it: the
//! backend records commands into one pending encoder and submits it later,
//! and submitted work may still be running. Reuse is safe because WebGPU
//! orders everything on a queue: command buffers run in submission order,
//! commands within one encoder in recording order, and `Queue::write_buffer`
//! takes effect between the submission before it and the one after it.
//! So a released buffer's next contents must be written *after* its last
//! use in that order. Two ways of writing it ([`Writer`]) give two rules:
//!
//! * written by a command recorded into the pending encoder (a kernel's
//!   output, a copy, a clear, a read-back copy): it comes after every
//!   command already recorded, so any released buffer may be reused, also
//!   one released while the encoder is open (its last readers are earlier
//!   in the same encoder);
//! * written by `Queue::write_buffer` (an upload): that write runs *before*
//!   the pending encoder, so a buffer released while an encoder is open
//!   ([`State::deferred`]) waits until that encoder is submitted
//!   ([`Pool::submitted`]); uploads get only buffers released with no
//!   encoder open, or released into an encoder that has since been
//!   submitted.
//!
//! Destroying follows the second rule: WebGPU lets a buffer be destroyed
//! while submitted work uses it (the memory goes once that work is done),
//! but a buffer recorded into an unsubmitted encoder must stay alive until
//! it is submitted, so only buffers free since a submission are destroyed.
//! Which encoder is open the backend tells the pool ([`Pool::opened`],
//! [`Pool::submitted`]).
//!
//! A reused buffer holds whatever it held before. Fresh buffers are
//! zero-filled by WebGPU; callers that rely on zeros ask for them
//! (`WebGpuBackend::alloc_zeroed`, which records a clear when the buffer
//! comes from the pool), every other caller writes all the bytes it binds.
//!
//! # Counters
//! [`MemoryStats`]: what was created on the device and not yet destroyed
//! (in use, pooled, and the backend's uniform ring), what is pooled, and
//! how many requests the pool served without a new device buffer.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, Weak};

/// Default bound on the bytes of idle pooled buffers (see
/// [`WebGpuBackend::set_pool_limit`](super::WebGpuBackend::set_pool_limit)).
pub const DEFAULT_POOL_LIMIT: u64 = 256 << 20;

/// Smallest size class, in bytes.
const MIN_CLASS: u64 = 256;

/// The WebGPU backend's device memory, as
/// [`WebGpuBackend::memory_stats`](super::WebGpuBackend::memory_stats)
/// reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryStats {
    /// Buffers created on the device and not yet destroyed: in use by
    /// tensors and pending work, idle in the pool, and the uniform ring.
    pub live_buffers: u64,
    /// Their bytes (whole size classes).
    pub live_bytes: u64,
    /// Of the live buffers, those idle in the pool.
    pub pooled_buffers: u64,
    /// Their bytes.
    pub pooled_bytes: u64,
    /// Buffers created on the device since the backend was made.
    pub created_buffers: u64,
    /// Requests the pool served with a buffer it already had.
    pub reused_buffers: u64,
    /// Buffers destroyed (pool over its limit, trimmed, or dropped).
    pub destroyed_buffers: u64,
    /// The bound on idle pooled bytes
    /// ([`WebGpuBackend::set_pool_limit`](super::WebGpuBackend::set_pool_limit)).
    pub pool_limit_bytes: u64,
}

impl MemoryStats {
    /// Live buffers in use: held by tensors, pending work or the uniform ring.
    pub fn in_use_buffers(&self) -> u64 {
        self.live_buffers - self.pooled_buffers
    }

    /// Their bytes.
    pub fn in_use_bytes(&self) -> u64 {
        self.live_bytes - self.pooled_bytes
    }
}

/// How a buffer handed out by [`Pool::take`] gets its contents, which
/// decides which released buffers it may be (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writer {
    /// Commands recorded into the backend's pending encoder.
    Encoder,
    /// `Queue::write_buffer`, which runs before the pending encoder.
    Queue,
}

/// A free list: buffers of one usage and size class.
type Key = (u32, u64);

/// The pool's books, shared with every [`DeviceBuffer`] it handed out.
struct State {
    /// Free buffers per (usage, class), released at most recently at the end.
    free: HashMap<Key, Vec<Free>>,
    /// Released while an encoder was open: reusable by encoder writes at
    /// once, by queue writes and destruction after the next submission.
    deferred: HashMap<Key, Vec<wgpu::Buffer>>,
    /// Whether the backend has an encoder recorded but not submitted.
    encoder_open: bool,
    /// Bound on the bytes of free plus deferred buffers.
    limit: u64,
    /// Release counter: the age of free buffers, oldest evicted first.
    clock: u64,
    live: u64,
    live_bytes: u64,
    pooled: u64,
    pooled_bytes: u64,
    created: u64,
    reused: u64,
    destroyed: u64,
}

struct Free {
    buffer: wgpu::Buffer,
    released: u64,
}

impl State {
    fn new(limit: u64) -> State {
        State {
            free: HashMap::new(),
            deferred: HashMap::new(),
            encoder_open: false,
            limit,
            clock: 0,
            live: 0,
            live_bytes: 0,
            pooled: 0,
            pooled_bytes: 0,
            created: 0,
            reused: 0,
            destroyed: 0,
        }
    }

    fn destroy(&mut self, buffer: &wgpu::Buffer) {
        self.live -= 1;
        self.live_bytes -= buffer.size();
        self.destroyed += 1;
        buffer.destroy();
    }

    fn put(&mut self, key: Key, buffer: wgpu::Buffer) {
        self.pooled += 1;
        self.pooled_bytes += buffer.size();
        if self.encoder_open {
            self.deferred.entry(key).or_default().push(buffer);
        } else {
            self.clock += 1;
            let released = self.clock;
            self.free
                .entry(key)
                .or_default()
                .push(Free { buffer, released });
            self.enforce_limit();
        }
    }

    /// A pooled buffer for `key`: for encoder writes the most recently
    /// released one, deferred or free; for queue writes only a free one.
    fn get(&mut self, key: Key, writer: Writer) -> Option<wgpu::Buffer> {
        let deferred = match writer {
            Writer::Encoder => self.deferred.get_mut(&key).and_then(Vec::pop),
            Writer::Queue => None,
        };
        let buffer = deferred.or_else(|| self.free.get_mut(&key)?.pop().map(|f| f.buffer))?;
        self.pooled -= 1;
        self.pooled_bytes -= buffer.size();
        self.reused += 1;
        Some(buffer)
    }

    /// Destroys the oldest free buffers while the pool holds more than its
    /// limit (deferred ones count, but wait for their submission).
    fn enforce_limit(&mut self) {
        while self.pooled_bytes > self.limit {
            let oldest = self
                .free
                .iter()
                .filter_map(|(k, v)| v.first().map(|f| (f.released, *k)))
                .min();
            let Some((_, key)) = oldest else { break };
            let list = self.free.get_mut(&key).expect("the key was just found");
            let Free { buffer, .. } = list.remove(0);
            if list.is_empty() {
                self.free.remove(&key);
            }
            self.pooled -= 1;
            self.pooled_bytes -= buffer.size();
            self.destroy(&buffer);
        }
    }

    /// Destroys every free buffer.
    fn trim(&mut self) {
        let free = std::mem::take(&mut self.free);
        for buffer in free.into_values().flatten().map(|f| f.buffer) {
            self.pooled -= 1;
            self.pooled_bytes -= buffer.size();
            self.destroy(&buffer);
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // The backend, its encoder and its pool are going: nothing recorded
        // will be submitted, so deferred buffers may go as well.
        let deferred = std::mem::take(&mut self.deferred);
        for buffer in deferred.into_values().flatten() {
            buffer.destroy();
        }
        for buffer in std::mem::take(&mut self.free).into_values().flatten() {
            buffer.buffer.destroy();
        }
    }
}

/// The buffer pool of one backend (see the module docs).
pub(crate) struct Pool {
    device: wgpu::Device,
    /// The device's `max_buffer_size` (read once: each read asks the browser).
    max_buffer: u64,
    state: Arc<Mutex<State>>,
}

impl Pool {
    /// An empty pool on `device`, holding at most [`DEFAULT_POOL_LIMIT`]
    /// idle bytes.
    pub(crate) fn new(device: wgpu::Device) -> Pool {
        Pool {
            max_buffer: device.limits().max_buffer_size,
            device,
            state: Arc::new(Mutex::new(State::new(DEFAULT_POOL_LIMIT))),
        }
    }

    /// A buffer of `usage` for `bytes` bytes (a multiple of 4, at least 4),
    /// from the pool when it has one of the size class that `writer` may
    /// reuse, else created; and whether it was reused (its contents are
    /// then stale, else zeros).
    pub(crate) fn take(
        &self,
        label: &str,
        usage: wgpu::BufferUsages,
        bytes: u64,
        writer: Writer,
    ) -> (DeviceBuffer, bool) {
        debug_assert!(bytes >= 4 && bytes.is_multiple_of(4), "{bytes} bytes");
        let class = size_class(bytes).min(self.max_buffer).max(bytes);
        let key = (usage.bits(), class);
        let pooled = lock(&self.state).get(key, writer);
        let reused = pooled.is_some();
        let buffer = pooled.unwrap_or_else(|| {
            let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: class,
                usage,
                mapped_at_creation: false,
            });
            let mut s = lock(&self.state);
            s.live += 1;
            s.live_bytes += class;
            s.created += 1;
            buffer
        });
        let handle = DeviceBuffer {
            buffer,
            bytes,
            key,
            pool: Arc::downgrade(&self.state),
        };
        (handle, reused)
    }

    /// The backend opened an encoder: buffers released from now on may be
    /// in its commands.
    pub(crate) fn opened(&self) {
        lock(&self.state).encoder_open = true;
    }

    /// The backend submitted its encoder: the buffers released while it was
    /// open become free for every use.
    pub(crate) fn submitted(&self) {
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        s.encoder_open = false;
        // Drained in place: the lists keep their capacity for the next encoder.
        for (key, buffers) in &mut s.deferred {
            if buffers.is_empty() {
                continue;
            }
            let free = s.free.entry(*key).or_default();
            for buffer in buffers.drain(..) {
                s.clock += 1;
                free.push(Free {
                    buffer,
                    released: s.clock,
                });
            }
        }
        s.enforce_limit();
    }

    /// Sets the bound on the bytes of idle pooled buffers (oldest destroyed
    /// first beyond it; 0 destroys every buffer once its work is submitted)
    /// and returns the previous bound.
    pub(crate) fn set_limit(&self, bytes: u64) -> u64 {
        let mut s = lock(&self.state);
        let old = std::mem::replace(&mut s.limit, bytes);
        s.enforce_limit();
        old
    }

    /// Destroys every idle buffer that no unsubmitted work may use.
    pub(crate) fn trim(&self) {
        lock(&self.state).trim();
    }

    /// The counters.
    pub(crate) fn stats(&self) -> MemoryStats {
        let s = lock(&self.state);
        MemoryStats {
            live_buffers: s.live,
            live_bytes: s.live_bytes,
            pooled_buffers: s.pooled,
            pooled_bytes: s.pooled_bytes,
            created_buffers: s.created,
            reused_buffers: s.reused,
            destroyed_buffers: s.destroyed,
            pool_limit_bytes: s.limit,
        }
    }
}

/// A buffer from a [`Pool`], returned to it when dropped (destroyed when
/// the pool is gone). It serves `bytes` bytes from offset 0; the buffer
/// itself may be larger (its size class).
pub(crate) struct DeviceBuffer {
    buffer: wgpu::Buffer,
    bytes: u64,
    key: Key,
    pool: Weak<Mutex<State>>,
}

impl DeviceBuffer {
    /// The device buffer (perhaps larger than [`DeviceBuffer::bytes`]).
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The bytes it serves: what kernels bind and copies may touch.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Its first [`DeviceBuffer::bytes`] as a binding.
    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: 0,
            size: NonZeroU64::new(self.bytes),
        })
    }

    /// Destroys the buffer instead of pooling it: for one whose state is
    /// unknown after an error (a failed mapping may leave it mapped).
    /// Call only when no unsubmitted work uses it.
    pub(crate) fn discard(mut self) {
        if let Some(pool) = self.pool.upgrade() {
            lock(&pool).destroy(&self.buffer);
        }
        // Without its pool, the drop destroys it (again: destroying twice
        // is allowed) and counts nothing.
        self.pool = Weak::new();
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        match self.pool.upgrade() {
            Some(pool) => lock(&pool).put(self.key, self.buffer.clone()),
            None => self.buffer.destroy(),
        }
    }
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceBuffer")
            .field("bytes", &self.bytes)
            .field("class", &self.key.1)
            .finish_non_exhaustive()
    }
}

/// The size class of a request of `bytes` (see the module docs): the
/// smallest of 256 and `2^k * (1 + q / 4)`, `q` in `0..4`, that holds it.
pub(crate) fn size_class(bytes: u64) -> u64 {
    if bytes <= MIN_CLASS {
        return MIN_CLASS;
    }
    // 2^k <= bytes < 2^(k+1); classes step by 2^(k-2) within the octave.
    let octave = 1u64 << (63 - bytes.leading_zeros());
    let step = octave / 4;
    bytes.div_ceil(step).saturating_mul(step)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_hold_the_request_with_at_most_a_quarter_more() {
        assert_eq!(size_class(4), 256);
        assert_eq!(size_class(256), 256);
        assert_eq!(size_class(257), 320);
        assert_eq!(size_class(320), 320);
        assert_eq!(size_class(321), 384);
        assert_eq!(size_class(448), 448);
        assert_eq!(size_class(449), 512);
        assert_eq!(size_class(512), 512);
        assert_eq!(size_class(513), 640);
        for bytes in (4..200_000u64).step_by(4).chain([1 << 40, (1 << 40) + 4]) {
            let c = size_class(bytes);
            assert!(c >= bytes, "{bytes} -> {c}");
            assert!(bytes <= 256 || 4 * (c - bytes) < bytes, "{bytes} -> {c}");
            assert_eq!(size_class(c), c, "a class is its own class");
        }
    }
}
