//! Smoke test of the public API that runs both natively (`cargo test`) and in
//! Node.js (`cargo test --target wasm32-unknown-unknown`, via
//! wasm-bindgen-test-runner; see `.cargo/config.toml`).
//!
//! Every test in `crate/tests/` that should also run on wasm32 carries the pair
//! of attributes below: `#[test]` natively, `#[wasm_bindgen_test]` on wasm32.

mod common;
use common::ready;

use fedwasm::backend::{Backend, CpuBackend};

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn cpu_matmul_2x3_by_3x2() {
    let be = CpuBackend::new();
    let a = be.upload(&[2, 3], &[1., 2., 3., 4., 5., 6.]).unwrap();
    let b = be.upload(&[3, 2], &[7., 8., 9., 10., 11., 12.]).unwrap();
    let c = be.matmul(&a, &b, false, false).unwrap();
    assert_eq!(c.shape(), &[2, 2]);
    let got = ready(be.read(&c)).unwrap();
    // [1 2 3; 4 5 6] * [7 8; 9 10; 11 12] = [58 64; 139 154]
    let want = [58., 64., 139., 154.];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-5 * w, "got {got:?}, want {want:?}");
    }
    assert_eq!(got.len(), want.len());
}
