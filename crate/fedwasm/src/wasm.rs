//! JavaScript bindings: what `wasm-bindgen` exports from the wasm32 build.
//!
//! Compiled only for `target_arch = "wasm32"` (see `lib.rs`). Keep this file a
//! thin layer: each export converts JS values, calls the Rust library, and
//! converts the result back. Build the Node.js package with
//! `bash tests/build-node-pkg.sh` (output in `target/pkg-node/`).

use wasm_bindgen::prelude::*;

/// Runs once when the wasm module is instantiated: routes Rust panics to
/// `console.error` with their message, instead of a bare "unreachable".
#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The fedwasm crate version (`version` in `crate/Cargo.toml`), e.g. `"0.1.0"`.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// `performance.now()` in milliseconds (Node.js and browsers), for benchmarks.
pub(crate) fn performance_now_ms() -> f64 {
    let performance = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
        .ok()
        .filter(|p| !p.is_undefined());
    let now = performance.as_ref().and_then(|p| {
        let f = js_sys::Reflect::get(p, &JsValue::from_str("now")).ok()?;
        let f: js_sys::Function = f.dyn_into().ok()?;
        f.call0(p).ok()?.as_f64()
    });
    now.unwrap_or_else(js_sys::Date::now)
}

fn js_error(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// The backend a selection gives here, as JSON `{"kind", "adapter"}`:
/// `backend` is `"auto"` (or omitted), `"cpu"` or `"webgpu"`; forcing
/// `"webgpu"` without an adapter is an error.
#[wasm_bindgen(js_name = backendInfo)]
pub async fn backend_info(backend: Option<String>) -> Result<String, JsError> {
    let b = pick(backend).await?;
    Ok(serde_json::to_string(&b.info()).expect("backend info serialises"))
}

/// The backend a JS `backend` option names: `"auto"` (or absent), `"cpu"`
/// or `"webgpu"` (an error without an adapter, never a silent fallback).
async fn pick(backend: Option<String>) -> Result<Box<dyn crate::backend::Backend>, JsError> {
    let choice = backend
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(js_error)?;
    crate::backend::select(choice).await.map_err(js_error)
}

/// The deterministic reference training run (see `fedwasm::reference`), as the
/// same JSON the native `fedwasm reference-run` prints.
#[wasm_bindgen(js_name = referenceRun)]
pub async fn reference_run(seed: u32) -> Result<String, JsError> {
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
) -> Result<String, JsError> {
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
) -> Result<String, JsError> {
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
pub async fn bench_matmul(sizes: Vec<u32>, runs: u32) -> Result<String, JsError> {
    let ctx = crate::backend::webgpu::GpuContext::new()
        .await
        .map_err(js_error)?;
    let sizes: Vec<usize> = sizes.into_iter().map(|n| n as usize).collect();
    let result = crate::bench::run_matmul_bench(&ctx, &sizes, runs as usize)
        .await
        .map_err(js_error)?;
    Ok(serde_json::to_string(&result).expect("results serialise"))
}
