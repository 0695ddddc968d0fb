//! `runClient`: one client's work, from task bytes to update bytes. The glue
//! calls it in a Web Worker (or a Node `worker_thread`) for each client a
//! pool runs, and on the calling thread when there is no pool: one path.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use super::{bytes_to_js, get, js_error, pick};
use crate::backend::{Backend, BackendKind, CpuBackend};
use crate::data::{decode_examples, Dataset};
use crate::error::Error;
use crate::federated::{client_update_with, ClientState, ClientTask};
use crate::model::{GraphModel, Model, ModelSpec};
use crate::train::{CancelToken, Controls, Phase, Progress, DEFAULT_YIELD_EVERY};

/// A built model and what it was built from (spec text, backend kind).
type CachedModel = (String, BackendKind, Box<dyn Model>);

thread_local! {
    /// The last model built, by spec text and backend: a worker runs many
    /// clients of one model, and building it (random initial weights, on a
    /// device: buffers) for each would be waste. Its weights are replaced by
    /// every task's broadcast weights, so reuse changes no result.
    static MODEL: RefCell<Option<CachedModel>> =
        const { RefCell::new(None) };
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Train => "train",
        Phase::Evaluate => "evaluate",
        Phase::Reconstruct => "reconstruct",
    }
}

/// The progress object JS gets: `{phase, batches, examples, loss}` (`loss`
/// `undefined` where it would cost a device read-back).
fn progress_to_js(p: &Progress) -> JsValue {
    let o = Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&o, &k.into(), &v);
    };
    set("phase", phase_name(p.phase).into());
    set("batches", (p.batches as f64).into());
    set("examples", (p.examples as f64).into());
    set("loss", p.loss.map_or(JsValue::UNDEFINED, JsValue::from));
    o.into()
}

fn aborted(signal: &Option<JsValue>) -> bool {
    signal
        .as_ref()
        .and_then(|s| get(s, "aborted"))
        .is_some_and(|a| a.is_truthy())
}

/// Runs one client: `model_spec` (JSON) is the process's model, `task` the
/// `FWTK` bytes, `data` the client's `FWEX` examples, `client_state` its
/// `FWCS` state (stateful processes only). `options`: `{backend: 'auto' |
/// 'cpu' | 'webgpu', yieldEvery, yieldGapMs, onProgress(progress), signal,
/// keepLocals}` (`keepLocals`: a reconstruction client's result has a
/// `clientState` with the local variables it reconstructed and trained)
/// (`yieldGapMs`: the least time between two yields, default 16); the
/// signal (an `AbortSignal` or anything with `aborted`) is checked before
/// every batch. Resolves to `{update: Uint8Array (FWUP), clientState:
/// Uint8Array (FWCS) | undefined, backend: JSON {kind, adapter,
/// software}}`. A device lost mid-client reruns it on the CPU.
#[wasm_bindgen(js_name = runClient)]
pub async fn run_client(
    model_spec: String,
    task: Uint8Array,
    data: Uint8Array,
    client_state: Option<Uint8Array>,
    options: JsValue,
) -> Result<JsValue, JsValue> {
    const OP: &str = "runClient";
    let task = ClientTask::from_bytes(&task.to_vec()).map_err(js_error)?;
    let examples = decode_examples(&data.to_vec()).map_err(js_error)?;
    let mut state = client_state
        .map(|s| ClientState::from_bytes(&s.to_vec()))
        .transpose()
        .map_err(js_error)?;
    // `keepLocals`: a reconstruction client gets its reconstructed local
    // variables back (a tab keeps them; they are never in the update).
    let keep_locals = get(&options, "keepLocals").is_some_and(|v| v.is_truthy());
    if keep_locals && state.is_none() {
        state = Some(ClientState {
            index: task.client_key,
            local_weights: Vec::new(),
        });
    }
    let backend = get(&options, "backend").and_then(|b| b.as_string());
    let yield_every = match get(&options, "yieldEvery") {
        None => DEFAULT_YIELD_EVERY,
        Some(v) => match v.as_f64() {
            Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => {
                n as u32
            }
            _ => {
                return Err(js_error(Error::invalid(
                    OP,
                    format!("yieldEvery must be a whole number >= 0, got {v:?}"),
                )))
            }
        },
    };
    let min_yield_gap_ms = match get(&options, "yieldGapMs") {
        None => crate::train::MIN_YIELD_GAP_MS,
        Some(v) => match v.as_f64() {
            Some(ms) if ms.is_finite() && ms >= 0.0 => ms,
            _ => {
                return Err(js_error(Error::invalid(
                    OP,
                    format!("yieldGapMs must be a finite number >= 0, got {v:?}"),
                )))
            }
        },
    };
    let on_progress: Option<Function> = get(&options, "onProgress").map(Into::into);
    let signal = get(&options, "signal");
    let cancel = CancelToken::new();
    if aborted(&signal) {
        return Err(js_error(Error::Cancelled { op: OP }));
    }
    let data = Dataset::from_examples(examples);
    let mut b: Rc<dyn Backend> = pick(backend).await?;
    let mut report = |p: Progress| {
        if let Some(f) = &on_progress {
            let _ = f.call1(&JsValue::UNDEFINED, &progress_to_js(&p));
        }
        if aborted(&signal) {
            cancel.cancel();
        }
    };
    let out = loop {
        let controls = Controls {
            yield_every,
            min_yield_gap_ms,
            progress: Some(&mut report),
            cancel: Some(cancel.clone()),
        };
        let mut model = take_model(&model_spec, b.as_ref())?;
        let result = client_update_with(
            b.as_ref(),
            model.as_mut(),
            &task,
            &data,
            state.as_ref(),
            controls,
        )
        .await;
        match result {
            Err(Error::DeviceLost { .. }) if b.info().kind != BackendKind::Cpu => {
                b = Rc::new(CpuBackend::new());
            }
            other => {
                keep_model(&model_spec, b.as_ref(), model);
                break other.map_err(js_error)?;
            }
        }
    };
    let result = Object::new();
    Reflect::set(
        &result,
        &"update".into(),
        &bytes_to_js(&out.update.to_bytes()),
    )?;
    if let Some(s) = &out.client_state {
        Reflect::set(&result, &"clientState".into(), &bytes_to_js(&s.to_bytes()))?;
    }
    Reflect::set(
        &result,
        &"backend".into(),
        &super::backend::info_json(b.as_ref()).into(),
    )?;
    Ok(result.into())
}

/// The cached model if it is `spec` on `b`'s kind, else a new one.
fn take_model(spec: &str, b: &dyn Backend) -> Result<Box<dyn Model>, JsValue> {
    let kind = b.info().kind;
    let cached = MODEL.with(|m| {
        let mut m = m.borrow_mut();
        match m.take() {
            Some((s, k, model)) if s == spec && k == kind => Some(model),
            _ => None,
        }
    });
    match cached {
        Some(m) => Ok(m),
        None => {
            let parsed = ModelSpec::from_json(spec).map_err(js_error)?;
            Ok(Box::new(GraphModel::new(parsed, b, 0).map_err(js_error)?))
        }
    }
}

fn keep_model(spec: &str, b: &dyn Backend, model: Box<dyn Model>) {
    let kind = b.info().kind;
    MODEL.with(|m| *m.borrow_mut() = Some((spec.to_string(), kind, model)));
}
