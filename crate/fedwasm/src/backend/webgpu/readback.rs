//! Reading GPU buffers back to the host, asynchronously.
//!
//! A storage buffer cannot be mapped, so results are copied (in the same
//! submission as the work) into a `MAP_READ | COPY_DST` staging buffer
//! ([`staging`]), which [`read_f32`] maps with `map_async` and copies out.
//! Nothing blocks in wasm: the mapping is awaited through a one-shot channel
//! that wgpu's callback fills (natively `GpuContext::drive` polls the device
//! first, which runs the callback).

use super::signal::oneshot;
use super::GpuContext;
use crate::error::{Error, Result};

/// Bytes of `len` f32s, rounded up to wgpu's copy alignment (at least one
/// alignment unit: zero-sized buffers cannot be bound).
/// Saturates at `u64::MAX` (in `u64` arithmetic: no wrap on wasm32, where
/// `len * 4` overflows `usize` past 2^30 elements), which every device
/// limit check then refuses.
pub(crate) fn padded_bytes(len: usize) -> u64 {
    let bytes = (len.max(1) as u64).saturating_mul(4);
    bytes
        .div_ceil(wgpu::COPY_BUFFER_ALIGNMENT)
        .saturating_mul(wgpu::COPY_BUFFER_ALIGNMENT)
}

/// A staging buffer for `len` f32s.
pub(crate) fn staging(ctx: &GpuContext, label: &str, len: usize) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: padded_bytes(len),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// The first `len` f32s of a staging buffer whose copies were submitted.
///
/// # Errors
/// [`Error::Gpu`] naming `op` when the mapping fails; [`Error::DeviceLost`]
/// when the device is lost.
pub(crate) async fn read_f32(
    ctx: &GpuContext,
    staging: &wgpu::Buffer,
    len: usize,
    op: &'static str,
) -> Result<Vec<f32>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let slice = staging.slice(..len as u64 * 4);
    let (tx, rx) = oneshot();
    slice.map_async(wgpu::MapMode::Read, move |r| tx.send(r));
    ctx.drive(rx, op)
        .await?
        .map_err(|e| Error::gpu(op, format!("mapping the staging buffer failed: {e}")))?;
    let out = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| Error::gpu(op, format!("reading the mapped range failed: {e}")))?;
        // Mapped memory is only byte-aligned in principle: copy, don't cast in place.
        let mut out = vec![0f32; len];
        bytemuck::cast_slice_mut::<f32, u8>(&mut out).copy_from_slice(&view);
        out
    };
    staging.unmap();
    ctx.check(op)?;
    Ok(out)
}
