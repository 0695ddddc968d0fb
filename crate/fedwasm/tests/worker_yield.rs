//! A pass in a dedicated Web Worker (headless Chromium) yields to the
//! worker's event loop: where training is meant to run in a page, so that
//! the worker can post progress and take a cancel message mid-pass.
//! wasm32 only; `tests/run.sh` runs it with the browser test files.
#![cfg(target_arch = "wasm32")]

mod common;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test::wasm_bindgen_test]
async fn passes_yield_to_a_workers_event_loop() {
    common::coop::check_that_passes_yield_to_the_event_loop().await;
}
