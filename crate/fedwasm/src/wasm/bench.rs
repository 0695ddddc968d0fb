//! The benchmarks, callable from JS (`tests/node/bench.mjs`,
//! `tests/browser/bench.mjs`): the same figures as `fedwasm bench`.

use wasm_bindgen::prelude::*;

use super::{js_error, pick};

/// The deterministic reference training run (see `fedwasm::reference`), as the
/// same JSON the native `fedwasm reference-run` prints.
#[wasm_bindgen(js_name = referenceRun)]
pub async fn reference_run(seed: u32) -> Result<String, JsValue> {
    let digest = crate::reference::reference_run(seed as u64)
        .await
        .map_err(js_error)?;
    Ok(serde_json::to_string(&digest).expect("digests serialise"))
}

/// The training benchmark (`fedwasm bench train`), as JSON.
/// `model` is `"softmax"` or `"cnn"`.
#[wasm_bindgen(js_name = benchTrain)]
pub async fn bench_train(
    model: &str,
    batch: u32,
    examples: u32,
    epochs: u32,
    backend: Option<String>,
) -> Result<String, JsValue> {
    let config = crate::bench::TrainBench {
        model: model.parse().map_err(js_error)?,
        batch: batch as usize,
        examples: examples as usize,
        epochs: epochs as usize,
    };
    let b = pick(backend).await?;
    let result = crate::bench::run_train_bench(b.as_ref(), &config)
        .await
        .map_err(js_error)?;
    Ok(serde_json::to_string(&result).expect("results serialise"))
}

/// The reconstruction-round benchmark (`fedwasm bench recon`: the client side
/// of one round of the matrix-factorisation tutorial), as JSON.
#[wasm_bindgen(js_name = benchRecon)]
pub async fn bench_recon(
    clients: u32,
    rounds: u32,
    backend: Option<String>,
) -> Result<String, JsValue> {
    let config = crate::bench::ReconBench {
        clients: clients as usize,
        rounds: rounds as usize,
        ..crate::bench::ReconBench::default()
    };
    let b = pick(backend).await?;
    let result = crate::bench::run_recon_bench(b.as_ref(), &config)
        .await
        .map_err(js_error)?;
    Ok(serde_json::to_string(&result).expect("results serialise"))
}

/// `fedwasm bench matmul` in the browser: square GEMM rates of the WebGPU
/// kernel and of the CPU backend for each size in `sizes` (median of
/// `runs`), as JSON. Fails without a WebGPU adapter.
#[wasm_bindgen(js_name = benchMatmul)]
pub async fn bench_matmul(sizes: Vec<u32>, runs: u32) -> Result<String, JsValue> {
    let ctx = crate::backend::webgpu::GpuContext::new()
        .await
        .map_err(js_error)?;
    let sizes: Vec<usize> = sizes.into_iter().map(|n| n as usize).collect();
    let result = crate::bench::run_matmul_bench(&ctx, &sizes, runs as usize)
        .await
        .map_err(js_error)?;
    Ok(serde_json::to_string(&result).expect("results serialise"))
}
