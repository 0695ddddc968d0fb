//! JavaScript bindings: what `wasm-bindgen` exports from the wasm32 build,
//! the layer under the npm package's glue (`pkg/src`).
//!
//! Compiled only for `target_arch = "wasm32"` (see `lib.rs`). Keep these
//! files thin: each export converts JS values, calls the Rust library, and
//! converts the result back; errors become [`js_error`]s.
//!
//! * [`backend`]: the instance's long-lived backends, `backendInfo`;
//! * [`data`]: `ClientDataHandle` (LEAF, MovieLens, CSV, arrays) and the
//!   `FWEX` bytes of one client's examples;
//! * [`process`]: `ProcessHandle` (a learning process as the server sees
//!   it: initial state, rounds, model weights) and `RoundHandle` (one
//!   [`fedwasm_protocol::server::ServerRound`]: tasks out, updates in);
//! * [`client`]: `runClient`, one client's work from task bytes to update
//!   bytes (inline or in a worker: the same call);
//! * [`bench`]: the benchmarks.
//!
//! Build the package with `bash tests/build-pkg.sh` (wasm-pack, into
//! `pkg/wasm/`).

mod backend;
mod bench;
mod client;
mod data;
mod model;
mod process;

use wasm_bindgen::prelude::*;

pub(crate) use backend::pick;

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

/// Reads `obj[key]`; `None` when `obj` is not an object or the value is
/// `undefined` or `null`.
pub(crate) fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    if !obj.is_object() {
        return None;
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// A plain JS value (objects for maps, numbers for NaN and infinities) for
/// a serialisable Rust value.
pub(crate) fn to_js<T: serde::Serialize + ?Sized>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
        .expect("plain data serialises to JS")
}

/// A `Uint8Array` copy of `bytes`, in its own `ArrayBuffer` (transferable,
/// 4-aligned for the encodings' `f32` arrays).
pub(crate) fn bytes_to_js(bytes: &[u8]) -> js_sys::Uint8Array {
    js_sys::Uint8Array::from(bytes)
}

/// TFF-style client sampling: `n` distinct indices of `0..num_clients`,
/// drawn from `(seed, round)` (the same as the CLI's `simulate`).
#[wasm_bindgen(js_name = sampleClientIndices)]
pub fn sample_client_indices(
    num_clients: u32,
    n: u32,
    seed: f64,
    round: f64,
) -> Result<Vec<u32>, JsValue> {
    const OP: &str = "sampleClients";
    let seed = process::whole(seed, OP, "seed")?;
    let round = process::whole(round, OP, "round")?;
    let picked = crate::federated::sample_clients(num_clients as usize, n as usize, seed, round)
        .map_err(js_error)?;
    Ok(picked.into_iter().map(|i| i as u32).collect())
}
