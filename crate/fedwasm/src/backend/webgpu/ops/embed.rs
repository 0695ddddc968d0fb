//! Embedding lookups and their gradients (`kernels/embed.wgsl`), without
//! atomics: the ids are checked and grouped on the host, from the host copy
//! every uploaded tensor keeps (see [`crate::backend`]).
//!
//! * `gather_rows`: the ids go up as `u32`; one thread per output element.
//! * `scatter_add_rows`, `gather_rows_backward`: the lookups are grouped by
//!   row on the host ([`RowSegments`]) and the plan goes up as one `u32`
//!   buffer (offsets, positions, row ids; layout in the shader); one thread
//!   per (unique row, column) sums that row's lookups from zero in ascending
//!   position order, as the CPU does, so the sums are the CPU's bit for bit.
//!   `scatter_add_rows` writes them into the rows of a zero-filled
//!   `[rows, k]` buffer (`alloc_zeroed`: new buffers are zero-filled by
//!   WebGPU, pooled ones cleared by one command), so untouched rows cost no
//!   thread.

use super::{host_indices, word};
use crate::backend::shape::{dims2, rows_of};
use crate::backend::webgpu::kernels::Kernel;
use crate::backend::webgpu::WebGpuBackend;
use crate::error::{Error, Result};
use crate::gradient::{RowGradient, RowSegments};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../kernels/embed.wgsl");

pub(crate) const KERNELS: &[Kernel] = &[
    Kernel::entry(SOURCE, "gather_rows"),
    Kernel::entry(SOURCE, "segment_sum"),
    Kernel::entry(SOURCE, "segment_scatter"),
];

pub(crate) fn gather_rows(b: &WebGpuBackend, table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather_rows";
    let (v, k) = dims2(OP, table)?;
    let tb = b.buf(OP, table)?;
    let idx = host_indices(b, OP, ids, v, "ids")?;
    // Ids are below v, and v * k elements fit the table's buffer.
    word(OP, v)?;
    let idx: Vec<u32> = idx.into_iter().map(|i| i as u32).collect();
    let n = idx.len();
    let out = b.alloc(OP, &[n, k])?;
    if out.is_empty() {
        return Ok(out);
    }
    let ib = b.upload_u32(OP, &idx)?;
    b.dispatch_1d(
        OP,
        "gather_rows",
        &[word(OP, n * k)?, word(OP, k)?, 0, 0],
        &[tb, &ib, b.buf(OP, &out)?],
        n * k,
    )?;
    Ok(out)
}

/// The checks both gradients share: `dy [.., k]` with one row per id, ids
/// valid for a table of `rows` rows; returns the plan and `k`.
fn plan(
    b: &WebGpuBackend,
    op: &'static str,
    dy: &Tensor,
    ids: &Tensor,
    rows: usize,
) -> Result<(RowSegments, usize)> {
    let (n, k) = rows_of(op, dy)?;
    if ids.len() != n {
        return Err(Error::shape(op, format!("{n} ids"), ids.shape()));
    }
    b.gpu(op, dy)?;
    let idx = host_indices(b, op, ids, rows, "ids")?;
    Ok((RowSegments::new(&idx, rows)?, k))
}

/// Records the segment sums of `plan` over `dy` into `out`: `[m, k]` rows in
/// plan order (`segment_sum`) or, `scatter`, rows `plan.rows` of `out`.
fn segment_sums(
    b: &WebGpuBackend,
    op: &'static str,
    dy: &Tensor,
    seg: &RowSegments,
    k: usize,
    out: &Tensor,
    scatter: bool,
) -> Result<()> {
    let (m, n) = (seg.len(), seg.positions.len());
    let threads = m * k;
    if threads == 0 {
        return Ok(());
    }
    let mut words = Vec::with_capacity(2 * m + 1 + n);
    words.extend_from_slice(&seg.offsets);
    words.extend_from_slice(&seg.positions);
    words.extend_from_slice(&seg.rows);
    let pb = b.upload_u32(op, &words)?;
    let kernel = if scatter {
        "segment_scatter"
    } else {
        "segment_sum"
    };
    b.dispatch_1d(
        op,
        kernel,
        &[
            word(op, threads)?,
            word(op, k)?,
            word(op, m + 1)?,
            word(op, m + 1 + n)?,
        ],
        &[b.buf(op, dy)?, &pb, b.buf(op, out)?],
        threads,
    )
}

pub(crate) fn scatter_add_rows(
    b: &WebGpuBackend,
    dy: &Tensor,
    ids: &Tensor,
    rows: usize,
) -> Result<Tensor> {
    const OP: &str = "scatter_add_rows";
    let (seg, k) = plan(b, OP, dy, ids, rows)?;
    // Only the looked-up rows are written: the rest must be zeros.
    let out = b.alloc_zeroed(OP, &[rows, k])?;
    segment_sums(b, OP, dy, &seg, k, &out, true)?;
    Ok(out)
}

pub(crate) fn gather_rows_backward(
    b: &WebGpuBackend,
    dy: &Tensor,
    ids: &Tensor,
    rows: usize,
) -> Result<RowGradient> {
    const OP: &str = "gather_rows_backward";
    let (seg, k) = plan(b, OP, dy, ids, rows)?;
    let values = b.alloc(OP, &[seg.len(), k])?;
    segment_sums(b, OP, dy, &seg, k, &values, false)?;
    RowGradient::new(rows, seg.rows, values)
}
