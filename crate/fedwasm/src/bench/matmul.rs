//! `fedwasm bench matmul`: square GEMM rates of the WebGPU kernel and of the
//! CPU backend, side by side.
//!
//! For each size `n` the WebGPU GEMM runs on operands uploaded once (the
//! pipeline compiled and one warm-up dispatch done before timing); one run is
//! one dispatch, submitted and waited for ([`GpuContext::wait`]), so it
//! includes the submission overhead but no upload or read-back. The CPU run
//! is [`Backend::matmul`] of the CPU backend on host tensors. Each rate is
//! `2 n^3` FLOPs over the median of `runs` runs.

use serde::{Deserialize, Serialize};

use super::now_seconds;
use crate::backend::webgpu::matmul::{encode_matmul, matmul_pipeline, storage_empty, storage_init};
use crate::backend::webgpu::{AdapterSummary, GpuContext, MatmulDims};
use crate::backend::{Backend, CpuBackend};
use crate::error::Result;
use crate::rng::Rng;

/// The rates at one size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatmulBenchRow {
    /// `m = k = n`.
    pub n: usize,
    /// Median seconds of one WebGPU GEMM.
    pub webgpu_seconds: f64,
    /// WebGPU GFLOP/s at the median.
    pub webgpu_gflops: f64,
    /// Median seconds of one CPU-backend GEMM.
    pub cpu_seconds: f64,
    /// CPU-backend GFLOP/s at the median.
    pub cpu_gflops: f64,
}

/// What `fedwasm bench matmul` measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatmulBenchResult {
    /// The WebGPU adapter.
    pub adapter: AdapterSummary,
    /// Timed runs per size and backend (the median is reported).
    pub runs: usize,
    /// One row per size.
    pub rows: Vec<MatmulBenchRow>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Times `n x n x n` GEMMs for each of `sizes` on `ctx` and on the CPU backend.
///
/// # Errors
/// [`crate::Error::Gpu`] for GPU failures; whatever the CPU backend reports.
pub async fn run_matmul_bench(
    ctx: &GpuContext,
    sizes: &[usize],
    runs: usize,
) -> Result<MatmulBenchResult> {
    const OP: &str = "bench matmul";
    let runs = runs.max(1);
    let cpu = CpuBackend::new();
    let mut rows = Vec::with_capacity(sizes.len());
    for &n in sizes {
        let mut rng = Rng::new(n as u64);
        let data: Vec<f32> = (0..n * n).map(|_| rng.uniform() as f32 - 0.5).collect();
        let dims = MatmulDims {
            m: n,
            k: n,
            n,
            ta: false,
            tb: false,
        };
        let flops = 2.0 * (n as f64).powi(3);
        let pipeline = matmul_pipeline(ctx, &dims).await?;

        let (a, c) = ctx
            .scoped(OP, |ctx| {
                (
                    storage_init(ctx, "bench a", &data),
                    storage_empty(ctx, "bench c", n * n),
                )
            })
            .await?;
        let mut gpu_times = Vec::with_capacity(runs);
        for run in 0..=runs {
            let t0 = now_seconds();
            ctx.scoped(OP, |ctx| {
                let mut encoder = ctx
                    .device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(OP) });
                encode_matmul(ctx, &pipeline, &mut encoder, dims, &a, &a, &c);
                ctx.queue().submit([encoder.finish()]);
            })
            .await?;
            ctx.wait(OP).await?;
            if run > 0 {
                // run 0 is the warm-up
                gpu_times.push(now_seconds() - t0);
            }
        }

        let host = cpu.upload(&[n, n], &data)?;
        let mut cpu_times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t0 = now_seconds();
            let out = cpu.matmul(&host, &host, false, false)?;
            cpu_times.push(now_seconds() - t0);
            drop(out);
        }
        let (webgpu_seconds, cpu_seconds) = (median(gpu_times), median(cpu_times));
        rows.push(MatmulBenchRow {
            n,
            webgpu_seconds,
            webgpu_gflops: flops / webgpu_seconds / 1e9,
            cpu_seconds,
            cpu_gflops: flops / cpu_seconds / 1e9,
        });
    }
    Ok(MatmulBenchResult {
        adapter: ctx.adapter().clone(),
        runs,
        rows,
    })
}
