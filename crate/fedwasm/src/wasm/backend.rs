//! The backends of one wasm instance: the CPU, and one WebGPU device made on
//! first use and kept (one device per page or worker, never one per call).

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::js_error;
use crate::backend::webgpu::WebGpuBackend;
use crate::backend::{Backend, BackendChoice, BackendInfo, BackendKind, CpuBackend};

/// The backend a selection gives here, as JSON `{"kind", "adapter"}`:
/// `backend` is `"auto"` (or omitted), `"cpu"` or `"webgpu"`; forcing
/// `"webgpu"` without an adapter is an error.
#[wasm_bindgen(js_name = backendInfo)]
pub async fn backend_info(backend: Option<String>) -> Result<String, JsValue> {
    let b = pick(backend).await?;
    Ok(info_json(b.as_ref()))
}

/// `{"kind", "adapter", "software"}` of a backend: `software` is true for
/// the CPU backend and for WebGPU adapters that run on the CPU
/// (SwiftShader, llvmpipe).
pub(crate) fn info_json(b: &dyn Backend) -> String {
    let BackendInfo { kind, adapter } = b.info();
    let software = match kind {
        BackendKind::Cpu => true,
        BackendKind::Webgpu => GPU
            .with(|g| matches!(&*g.borrow(), Some(Ok(gpu)) if !crate::backend::auto_accepts(gpu))),
    };
    serde_json::json!({ "kind": kind, "adapter": adapter, "software": software }).to_string()
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
pub(crate) async fn pick(backend: Option<String>) -> Result<Rc<dyn Backend>, JsValue> {
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
