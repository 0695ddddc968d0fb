//! Host side of `kernels/matmul.wgsl`: `op(a) * op(b)` on the GPU.
//!
//! [`encode_matmul`] records one GEMM on buffers that are already on the
//! device (the building block of the device-resident backend);
//! [`matmul`] and [`matmul_many`] upload host data, run one submission and
//! read the results back asynchronously.

use super::kernels::Kernel;
use super::readback::{padded_bytes, read_f32, staging};
use super::GpuContext;
use crate::backend::shape::matmul_dims;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The WGSL source of the tiled GEMM (64x64 blocks of the result).
pub const MATMUL_WGSL: &str = include_str!("kernels/matmul.wgsl");

/// The WGSL source of the GEMM for small or skinny results (16x16 blocks).
pub const MATMUL_SMALL_WGSL: &str = include_str!("kernels/matmul_small.wgsl");

/// One of the two GEMM kernels (same bindings and parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulKernel {
    /// `matmul.wgsl`: 64x64 blocks, 4x4 per thread.
    Large,
    /// `matmul_small.wgsl`: 16x16 blocks, one element per thread.
    Small,
}

impl MatmulKernel {
    /// The kernel's registry name.
    pub const fn name(self) -> &'static str {
        match self {
            MatmulKernel::Large => "matmul",
            MatmulKernel::Small => "matmul_small",
        }
    }

    /// Its WGSL source.
    pub const fn source(self) -> &'static str {
        match self {
            MatmulKernel::Large => MATMUL_WGSL,
            MatmulKernel::Small => MATMUL_SMALL_WGSL,
        }
    }

    /// Its registry entry.
    pub(crate) const fn kernel(self) -> Kernel {
        Kernel {
            name: self.name(),
            source: self.source(),
            entry: "main",
        }
    }

    /// Rows and columns of the result one workgroup computes.
    fn tile(self) -> usize {
        match self {
            MatmulKernel::Large => 64,
            MatmulKernel::Small => 16,
        }
    }
}

/// Shape of one GEMM, in the [`crate::backend::Backend::matmul`] convention:
/// `op(a)` is `[m, k]`, `op(b)` is `[k, n]`, the result is `[m, n]`; `a` is
/// stored `[m, k]` row-major (`[k, m]` when `ta`), `b` `[k, n]` (`[n, k]` when `tb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulDims {
    /// Rows of the result.
    pub m: usize,
    /// The inner dimension.
    pub k: usize,
    /// Columns of the result.
    pub n: usize,
    /// `a` is stored transposed.
    pub ta: bool,
    /// `b` is stored transposed.
    pub tb: bool,
}

impl MatmulDims {
    /// Elements of `a`, `b` and the result.
    pub fn lens(&self) -> (usize, usize, usize) {
        // Saturating: an overflowing size fails the device limit check.
        (
            self.m.saturating_mul(self.k),
            self.k.saturating_mul(self.n),
            self.m.saturating_mul(self.n),
        )
    }

    /// The shader's uniform block: `m, n, k`, then the strides of `op(a)`
    /// and `op(b)` (see `matmul.wgsl`).
    pub(crate) fn params(&self) -> [u32; 8] {
        let (m, n, k) = (self.m as u32, self.n as u32, self.k as u32);
        let (rsa, csa) = if self.ta { (1, m) } else { (k, 1) };
        let (rsb, csb) = if self.tb { (1, k) } else { (n, 1) };
        [m, n, k, rsa, csa, rsb, csb, 0]
    }

    /// The kernel for this shape: 64x64 blocks when the result fills whole
    /// blocks in both directions and there are at least 8 of them (enough
    /// workgroups to spread), else 16x16 blocks, which waste less of a
    /// skinny result such as a batch of 20 through a 10-unit layer.
    /// Results too tall or wide for a grid of 16x16 blocks (more than
    /// 65,535 blocks along a side, WebGPU's default limit) take 64x64 blocks.
    pub fn kernel(&self) -> MatmulKernel {
        let blocks = self.m.div_ceil(64) * self.n.div_ceil(64);
        let small_fits = self.m.div_ceil(16) <= 65_535 && self.n.div_ceil(16) <= 65_535;
        if !small_fits || (self.m >= 64 && self.n >= 64 && blocks >= 8) {
            MatmulKernel::Large
        } else {
            MatmulKernel::Small
        }
    }

    /// Workgroups along x (columns) and y (rows) for [`MatmulDims::kernel`].
    pub(crate) fn workgroups(&self) -> (usize, usize) {
        let tile = self.kernel().tile();
        (self.n.div_ceil(tile), self.m.div_ceil(tile))
    }

    /// Checks that the GEMM fits the device: every buffer within the
    /// storage-binding limit, the grid within the workgroup-count limit.
    pub(crate) fn check(&self, ctx: &GpuContext) -> Result<()> {
        let limits = ctx.device().limits();
        let (la, lb, lc) = self.lens();
        let max_binding = limits.max_storage_buffer_binding_size;
        let (wx, wy) = self.workgroups();
        let max_groups = limits.max_compute_workgroups_per_dimension as usize;
        if [la, lb, lc].iter().any(|&l| padded_bytes(l) > max_binding)
            || wx > max_groups
            || wy > max_groups
        {
            return Err(Error::invalid(
                "webgpu matmul",
                format!(
                    "{self:?} exceeds the device limits (storage binding {max_binding} bytes, \
                     {max_groups} workgroups per dimension)"
                ),
            ));
        }
        Ok(())
    }
}

/// One GEMM of [`matmul_many`]: its shape and host operands.
#[derive(Clone, Copy, Debug)]
pub struct MatmulJob<'a> {
    /// The shape.
    pub dims: MatmulDims,
    /// `a`, row-major as stored.
    pub a: &'a [f32],
    /// `b`, row-major as stored.
    pub b: &'a [f32],
}

/// The pipeline of the GEMM kernel for `dims` ([`MatmulDims::kernel`]),
/// compiled once per context.
///
/// # Errors
/// [`Error::Gpu`] when the shader fails to compile.
pub async fn matmul_pipeline(ctx: &GpuContext, dims: &MatmulDims) -> Result<wgpu::ComputePipeline> {
    let kernel = dims.kernel();
    ctx.pipeline(kernel.name(), kernel.source(), "main").await
}

/// Records `c = op(a) * op(b)` into `encoder` with `pipeline`, which must be
/// that of `dims.kernel()` ([`matmul_pipeline`]). `a`, `b` and `c` are storage
/// buffers holding at least the elements `dims` needs; `c` is written whole
/// (nothing read), so it may be uninitialised. Call inside
/// [`GpuContext::scoped`] so binding errors surface as [`Error::Gpu`].
pub fn encode_matmul(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    encoder: &mut wgpu::CommandEncoder,
    dims: MatmulDims,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    c: &wgpu::Buffer,
) {
    if dims.m == 0 || dims.n == 0 {
        return;
    }
    let device = ctx.device();
    let params = ctx.buffer_with_data(
        "matmul params",
        wgpu::BufferUsages::UNIFORM,
        bytemuck::cast_slice(&dims.params()),
    );
    let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("matmul"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: a.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: b.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: c.as_entire_binding(),
            },
        ],
    });
    let (wx, wy) = dims.workgroups();
    let (wx, wy) = (wx as u32, wy as u32);
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("matmul"),
        timestamp_writes: None,
    });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, &bind, &[]);
    pass.dispatch_workgroups(wx, wy, 1);
}

/// A storage buffer holding `data` (at least one element's worth of bytes).
pub fn storage_init(ctx: &GpuContext, label: &str, data: &[f32]) -> wgpu::Buffer {
    if data.is_empty() {
        return storage_empty(ctx, label, 0);
    }
    ctx.buffer_with_data(
        label,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        bytemuck::cast_slice(data),
    )
}

/// A storage buffer for `len` f32s, zero-filled (as WebGPU fills every new buffer).
pub fn storage_empty(ctx: &GpuContext, label: &str, len: usize) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: padded_bytes(len),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// `op(a) * op(b)` on the GPU for host operands, as a `[m, n]` host tensor.
///
/// # Errors
/// [`Error::DataLength`] when `a` or `b` do not match `dims`;
/// [`Error::InvalidArgument`] when the GEMM exceeds the device limits;
/// [`Error::Gpu`] for GPU failures.
pub async fn matmul(ctx: &GpuContext, dims: MatmulDims, a: &[f32], b: &[f32]) -> Result<Tensor> {
    let mut out = matmul_many(ctx, &[MatmulJob { dims, a, b }]).await?;
    Tensor::new(&[dims.m, dims.n], out.pop().expect("one job, one result"))
}

/// [`crate::backend::Backend::matmul`] on the GPU for host `f32` tensors:
/// `op(a) * op(b)` with `op(x)` = `x` or `x^T` (`ta`, `tb`).
///
/// # Errors
/// [`Error::Shape`] when the operands are not 2-D or the inner dimensions
/// disagree, [`Error::Storage`] for non-`f32` tensors, and as [`matmul`].
pub async fn matmul_tensors(
    ctx: &GpuContext,
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
) -> Result<Tensor> {
    const OP: &str = "webgpu matmul";
    let (m, k, n) = matmul_dims(OP, a, b, ta, tb)?;
    let dims = MatmulDims { m, k, n, ta, tb };
    matmul(ctx, dims, host_f32(OP, a)?, host_f32(OP, b)?).await
}

/// The host `f32` elements of `t`, or [`Error::Storage`].
fn host_f32<'t>(op: &'static str, t: &'t Tensor) -> Result<&'t [f32]> {
    t.as_f32().ok_or_else(|| Error::Storage {
        op,
        detail: format!(
            "operand of shape {:?} is {:?}, expected F32",
            t.shape(),
            t.precision()
        ),
    })
}

/// Runs many GEMMs in one submission and reads all results back with one
/// mapping: results in job order, each `m * n` elements, row-major.
///
/// # Errors
/// As [`matmul`], for the first job that fails.
pub async fn matmul_many(ctx: &GpuContext, jobs: &[MatmulJob<'_>]) -> Result<Vec<Vec<f32>>> {
    const OP: &str = "webgpu matmul";
    for job in jobs {
        let d = job.dims;
        let a_stored = if d.ta { [d.k, d.m] } else { [d.m, d.k] };
        let b_stored = if d.tb { [d.n, d.k] } else { [d.k, d.n] };
        for (data, stored) in [(job.a, a_stored), (job.b, b_stored)] {
            if data.len() != crate::tensor::checked_numel(OP, &stored)? {
                return Err(Error::DataLength {
                    op: OP,
                    shape: stored.to_vec(),
                    len: data.len(),
                });
            }
        }
        d.check(ctx)?;
    }
    let mut pipelines = Vec::with_capacity(jobs.len());
    for job in jobs {
        pipelines.push(matmul_pipeline(ctx, &job.dims).await?);
    }
    let offsets: Vec<usize> = jobs
        .iter()
        .scan(0, |acc, j| {
            let start = *acc;
            *acc += j.dims.lens().2;
            Some(start)
        })
        .collect();
    let total: usize = jobs.iter().map(|j| j.dims.lens().2).sum();
    let stage = ctx
        .scoped(OP, |ctx| {
            let stage = staging(ctx, "matmul read-back", total);
            let mut encoder = ctx
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(OP) });
            for ((job, &offset), pipeline) in jobs.iter().zip(&offsets).zip(&pipelines) {
                let lc = job.dims.lens().2;
                if lc == 0 {
                    continue;
                }
                let a = storage_init(ctx, "matmul a", job.a);
                let b = storage_init(ctx, "matmul b", job.b);
                let c = storage_empty(ctx, "matmul c", lc);
                encode_matmul(ctx, pipeline, &mut encoder, job.dims, &a, &b, &c);
                encoder.copy_buffer_to_buffer(&c, 0, &stage, (offset * 4) as u64, (lc * 4) as u64);
            }
            ctx.queue().submit([encoder.finish()]);
            stage
        })
        .await?;
    let flat = read_f32(ctx, &stage, total, OP).await?;
    Ok(jobs
        .iter()
        .zip(&offsets)
        .map(|(j, &o)| flat[o..o + j.dims.lens().2].to_vec())
        .collect())
}
