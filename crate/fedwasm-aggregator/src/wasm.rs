//! The JavaScript exports (wasm32 only): a thin layer over [`crate`].

use wasm_bindgen::prelude::*;

use fedwasm_protocol::Error;

/// A JS `Error` carrying the engine's stable `code` (and, for refusals,
/// `reason`).
fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let set = |k: &str, v: &str| {
        let _ = js_sys::Reflect::set(&err, &JsValue::from_str(k), &JsValue::from_str(v));
    };
    set("code", e.code());
    set("name", "FedwasmError");
    if let Error::Refused { reason, .. } = &e {
        set("reason", reason);
    }
    err.into()
}

/// The package version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The state before the first round (`FWCK` bytes) of the process
/// `spec_json` from its initial global weights (`FWWT` bytes).
#[wasm_bindgen(js_name = initialState)]
pub fn initial_state(spec_json: &str, weights: &[u8]) -> Result<Vec<u8>, JsValue> {
    crate::initial_state(spec_json, weights).map_err(js_error)
}

/// Sets the process-wide limits (JSON, fields of `Limits`).
#[wasm_bindgen(js_name = setLimits)]
pub fn set_limits(limits_json: &str) -> Result<(), JsValue> {
    crate::set_limits(limits_json).map_err(js_error)
}

/// One round in progress (see the crate docs).
#[wasm_bindgen]
pub struct ServerRound(crate::Round);

#[wasm_bindgen]
impl ServerRound {
    /// Starts a round of `spec_json` from the checkpoint `state` (`FWCK`).
    #[wasm_bindgen(constructor)]
    pub fn new(spec_json: &str, state: &[u8]) -> Result<ServerRound, JsValue> {
        crate::Round::new(spec_json, state)
            .map(ServerRound)
            .map_err(js_error)
    }

    /// The round's id (the state's round index).
    #[wasm_bindgen(getter, js_name = roundId)]
    pub fn round_id(&self) -> Result<u64, JsValue> {
        self.0.round_id().map_err(js_error)
    }

    /// Updates accepted so far.
    #[wasm_bindgen(getter)]
    pub fn accepted(&self) -> Result<u32, JsValue> {
        self.0
            .accepted()
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(js_error)
    }

    /// The task (`FWTK` bytes) of client `client_key` (a `bigint`), with
    /// the dataset plan `plan_json` (`""` for none).
    pub fn task(&self, client_key: u64, plan_json: &str) -> Result<Vec<u8>, JsValue> {
        self.0.task(client_key, plan_json).map_err(js_error)
    }

    /// Accepts one update (`FWUP` bytes); throws (`code: 'refused'`, with a
    /// `reason`) and changes nothing when it does not fit the round. With
    /// `max_norm` (a number; `undefined`: no bound), an update whose L2
    /// norm is over it is refused with reason `norm`.
    pub fn accept(&mut self, update: &[u8], max_norm: Option<f64>) -> Result<(), JsValue> {
        self.0.accept(update, max_norm).map_err(js_error)
    }

    /// Every check of `accept` without adding the update: throws what
    /// `accept` would, else returns nothing and changes nothing.
    pub fn check(&mut self, update: &[u8], max_norm: Option<f64>) -> Result<(), JsValue> {
        self.0.check(update, max_norm).map_err(js_error)
    }

    /// Ends the round: `{ state: Uint8Array (FWCK), metrics: string (JSON) }`.
    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        let (state, metrics) = self.0.finish().map_err(js_error)?;
        let out = js_sys::Object::new();
        let set = |k: &str, v: JsValue| js_sys::Reflect::set(&out, &JsValue::from_str(k), &v);
        set("state", js_sys::Uint8Array::from(state.as_slice()).into())?;
        set("metrics", JsValue::from_str(&metrics))?;
        Ok(out.into())
    }
}
