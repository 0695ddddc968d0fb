//! Times the WebGPU convolution and pooling operations on cnn_dropout's
//! shapes (28x28x1 images; conv 3x3 1->32 and 32->64, "valid"; 2x2 max
//! pooling) for each convolution method, next to a square GEMM on the same
//! device. Needs a GPU to finish quickly (a software adapter takes minutes):
//!
//! ```sh
//! cargo run --release -p fedwasm --example webgpu_conv_bench -- 20 64 256
//! ```
//!
//! Without batch sizes it makes a smoke run (batch 1, one call per figure,
//! no GEMM), as the test suite runs every example.
//!
//! Each figure is the best of 3 runs of `reps` back-to-back calls (the GPU
//! work of all of them, then one read to wait), divided by `reps` (2560 /
//! batch, within 5..=50; `FEDWASM_BENCH_REPS` overrides it).
//! `FEDWASM_BENCH_ONLY=<part of a name>` runs only the figures whose name
//! contains it; `FEDWASM_BENCH_GEMM=<n>` sizes the reference GEMM (0: none).

use std::time::Instant;

use fedwasm::backend::webgpu::{set_conv_method, ConvMethod, WebGpuBackend};
use fedwasm::backend::{Backend, Padding};
use fedwasm::{Result, Tensor};

fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = fedwasm::rng::Rng::new(seed);
    (0..len).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect()
}

fn tensor(b: &WebGpuBackend, shape: &[usize], seed: u64) -> Result<Tensor> {
    b.upload(shape, &values(shape.iter().product(), seed))
}

/// Whether to run the figure called `what` (all, or those whose name
/// contains `FEDWASM_BENCH_ONLY`).
fn wanted(what: &str) -> bool {
    std::env::var("FEDWASM_BENCH_ONLY").map_or(true, |only| what.contains(&only))
}

/// Prints milliseconds per call of `f` (best of 3 runs of `reps` calls)
/// and the rate for `flops` per call, if the figure is [`wanted`].
fn bench(
    b: &WebGpuBackend,
    what: &str,
    reps: usize,
    flops: f64,
    f: impl FnMut() -> Result<()>,
) -> Result<()> {
    if wanted(what) {
        report(what, time(b, reps, f)?, flops);
    }
    Ok(())
}

/// Milliseconds per call of `f`: best of 3 runs of `reps` calls.
fn time(b: &WebGpuBackend, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let sync = b.upload(&[1], &[0.0])?;
    f()?;
    pollster::block_on(b.read(&sync))?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..reps {
            f()?;
        }
        pollster::block_on(b.read(&sync))?;
        best = best.min(start.elapsed().as_secs_f64() * 1e3 / reps as f64);
    }
    Ok(best)
}

fn report(what: &str, ms: f64, flops: f64) {
    if flops > 0.0 {
        println!("{what:<34} {ms:>9.3} ms  {:>8.1} GFLOP/s", flops / ms / 1e6);
    } else {
        println!("{what:<34} {ms:>9.3} ms");
    }
}

fn main() -> Result<()> {
    let batches: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("batch sizes as arguments"))
        .collect();
    // Without arguments (as the test suite runs every example): a smoke run
    // of one call per figure at batch 1, on whatever adapter there is.
    let smoke = batches.is_empty();
    let batches = if smoke { vec![1] } else { batches };
    let b = pollster::block_on(WebGpuBackend::new())?;
    println!("adapter: {}", b.info().adapter);

    // The GEMM reference: FEDWASM_BENCH_GEMM=n for n^3 (0 skips it).
    let n: usize = std::env::var("FEDWASM_BENCH_GEMM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 0 } else { 2048 });
    if n > 0 {
        let (ga, gb) = (tensor(&b, &[n, n], 1)?, tensor(&b, &[n, n], 2)?);
        bench(
            &b,
            &format!("matmul {n}^3"),
            10,
            2.0 * (n * n * n) as f64,
            || b.matmul(&ga, &gb, false, false).map(drop),
        )?;
    }

    let valid = Padding::Valid;
    for &batch in &batches {
        println!("\nbatch {batch}");
        let reps = if smoke {
            1
        } else {
            (2560 / batch).clamp(5, 50)
        };
        let x1 = tensor(&b, &[batch, 28, 28, 1], 3)?;
        let (w1, b1) = (tensor(&b, &[3, 3, 1, 32], 4)?, tensor(&b, &[32], 5)?);
        let dy1 = tensor(&b, &[batch, 26, 26, 32], 6)?;
        let x2 = tensor(&b, &[batch, 26, 26, 32], 7)?;
        let (w2, b2) = (tensor(&b, &[3, 3, 32, 64], 8)?, tensor(&b, &[64], 9)?);
        let dy2 = tensor(&b, &[batch, 24, 24, 64], 10)?;
        let dyp = tensor(&b, &[batch, 12, 12, 64], 11)?;
        // 2 m n k per GEMM-shaped product.
        let f1 = 2.0 * (batch * 26 * 26 * 9 * 32) as f64;
        let f2 = 2.0 * (batch * 24 * 24 * 288 * 64) as f64;
        for method in [ConvMethod::Implicit, ConvMethod::Im2col] {
            set_conv_method(method);
            let m = format!("{method:?}");
            bench(&b, &format!("{m} conv1 forward"), reps, f1, || {
                b.conv2d(&x1, &w1, &b1, valid).map(drop)
            })?;
            bench(&b, &format!("{m} conv1 backward (no dx)"), reps, f1, || {
                b.conv2d_backward(&x1, &w1, &dy1, valid, false).map(drop)
            })?;
            bench(&b, &format!("{m} conv2 forward"), reps, f2, || {
                b.conv2d(&x2, &w2, &b2, valid).map(drop)
            })?;
            bench(&b, &format!("{m} conv2 backward (no dx)"), reps, f2, || {
                b.conv2d_backward(&x2, &w2, &dy2, valid, false).map(drop)
            })?;
            bench(&b, &format!("{m} conv2 backward"), reps, 2.0 * f2, || {
                b.conv2d_backward(&x2, &w2, &dy2, valid, true).map(drop)
            })?;
            bench(
                &b,
                &format!("{m} conv layers, one step"),
                reps,
                2.0 * f1 + 3.0 * f2,
                || {
                    let y1 = b.conv2d(&x1, &w1, &b1, valid)?;
                    let y2 = b.conv2d(&y1, &w2, &b2, valid)?;
                    let p = b.max_pool2d(&y2)?;
                    let dp = b.max_pool2d_backward(&y2, &dyp)?;
                    let g2 = b.conv2d_backward(&y1, &w2, &dp, valid, true)?;
                    let dx = g2.dx.expect("dx");
                    b.conv2d_backward(&x1, &w1, &dx, valid, false)
                        .map(|_| drop(p))
                },
            )?;
        }
        bench(&b, "max_pool2d [b, 24, 24, 64]", reps, 0.0, || {
            b.max_pool2d(&dy2).map(drop)
        })?;
        bench(&b, "max_pool2d_backward", reps, 0.0, || {
            b.max_pool2d_backward(&dy2, &dyp).map(drop)
        })?;
        bench(&b, "sum_leading [b*576, 64] (db)", reps, 0.0, || {
            b.sum_leading(&dy2).map(drop)
        })?;
    }
    Ok(())
}
