//! JavaScript bindings: what `wasm-bindgen` exports from the wasm32 build.
//!
//! Compiled only for `target_arch = "wasm32"` (see `lib.rs`). Keep this file a
//! thin layer: each export converts JS values, calls the Rust library, and
//! converts the result back. Build the Node.js package with
//! `bash tests/build-node-pkg.sh` (output in `target/pkg-node/`).

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::backend::webgpu::WebGpuBackend;
use crate::backend::{Backend, BackendChoice, BackendKind, CpuBackend};

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

/// A JS `Error` for an engine error: `name` is `"FedwasmError"`, `code` the
/// stable [`crate::Error::code`] (`shape`, `bad_data`, `limit`,
/// `device_lost`, `cancelled`, `diverged`, `invalid_argument`, ..), and for
/// refusals `reason`; the message names the operation and what was wrong.
pub(crate) fn js_error(e: crate::Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let set = |k: &str, v: &str| {
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&err, &JsValue::from_str(k), &JsValue::from_str(v));
    };
    set("name", "FedwasmError");
    set("code", e.code());
    if let crate::Error::Refused { reason, .. } = &e {
        set("reason", reason);
    }
    err.into()
}

/// The backend a selection gives here, as JSON `{"kind", "adapter"}`:
/// `backend` is `"auto"` (or omitted), `"cpu"` or `"webgpu"`; forcing
/// `"webgpu"` without an adapter is an error.
#[wasm_bindgen(js_name = backendInfo)]
pub async fn backend_info(backend: Option<String>) -> Result<String, JsValue> {
    let b = pick(backend).await?;
    Ok(serde_json::to_string(&b.info()).expect("backend info serialises"))
}

thread_local! {
    /// This instance's WebGPU backend, made on first use and kept: one
    /// device per page or worker, never one per call. `Err` remembers that
    /// there is no adapter, so `auto` does not ask again every call.
    static GPU: std::cell::RefCell<Option<std::result::Result<Rc<WebGpuBackend>, String>>> =
        const { std::cell::RefCell::new(None) };
}

/// This instance's WebGPU backend (see [`GPU`]); a lost device is replaced.
async fn gpu() -> std::result::Result<Rc<WebGpuBackend>, String> {
    let cached = GPU.with(|g| g.borrow().clone());
    match cached {
        Some(Ok(b)) if !b.context().is_lost() => return Ok(b),
        Some(Err(e)) => return Err(e),
        _ => {}
    }
    let made = WebGpuBackend::new()
        .await
        .map(Rc::new)
        .map_err(|e| e.to_string());
    GPU.with(|g| *g.borrow_mut() = Some(made.clone()));
    made
}

/// The backend a JS `backend` option names: `"auto"` (or absent), `"cpu"`
/// or `"webgpu"` (an error without an adapter, never a silent fallback).
/// The WebGPU backend is the instance's long-lived one.
async fn pick(backend: Option<String>) -> Result<Rc<dyn Backend>, JsValue> {
    let choice: BackendChoice = backend
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(js_error)?;
    match choice {
        BackendChoice::Force(BackendKind::Cpu) => Ok(Rc::new(CpuBackend::new())),
        BackendChoice::Force(BackendKind::Webgpu) => match gpu().await {
            Ok(b) => Ok(b),
            Err(reason) => Err(js_error(crate::Error::BackendUnavailable {
                backend: "webgpu".into(),
                reason,
            })),
        },
        BackendChoice::Auto => match gpu().await {
            Ok(b) if crate::backend::auto_accepts(&b) => Ok(b),
            _ => Ok(Rc::new(CpuBackend::new())),
        },
    }
}

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
