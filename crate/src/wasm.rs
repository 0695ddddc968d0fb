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
