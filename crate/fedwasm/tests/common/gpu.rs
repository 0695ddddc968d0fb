//! Helpers of the WebGPU backend tests, which run natively (wgpu on Vulkan:
//! Mesa's llvmpipe in CI) and as wasm in headless Chromium (SwiftShader).
//!
//! A test file declares its tests with [`gpu_tests!`] and, for the browser,
//! `wasm_bindgen_test_configure!(run_in_browser)`. Each test compares the
//! WebGPU backend with the CPU backend on the same inputs.

use std::rc::Rc;

use fedwasm::backend::webgpu::{matmul_many, GpuContext, MatmulDims, MatmulJob, WebGpuBackend};
use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::Tensor;

// One backend for the whole browser run (wasm is single-threaded and never
// runs thread-local destructors). Natively each test runs on its own thread
// and makes its own, dropped when the test ends: wgpu must not be torn down
// from a thread-local destructor.
#[cfg(target_arch = "wasm32")]
thread_local! {
    static BACKEND: std::cell::RefCell<Option<Rc<WebGpuBackend>>> =
        const { std::cell::RefCell::new(None) };
}

/// A WebGPU backend, or a loud failure: a test without an adapter must never pass.
pub async fn backend() -> Rc<WebGpuBackend> {
    #[cfg(target_arch = "wasm32")]
    if let Some(b) = BACKEND.with(|c| c.borrow().clone()) {
        return b;
    }
    let b = match WebGpuBackend::new().await {
        Ok(b) => Rc::new(b),
        Err(e) => panic!(
            "the WebGPU tests need an adapter and must not pass without one: {e}. \
             `bash tests/run.sh` installs llvmpipe (native) and runs Chromium with WebGPU enabled."
        ),
    };
    #[cfg(target_arch = "wasm32")]
    BACKEND.with(|c| *c.borrow_mut() = Some(b.clone()));
    b
}

/// Declares async tests `async fn name(b: &WebGpuBackend) { .. }` that run
/// under `#[test]` natively (driven by pollster) and under
/// `#[wasm_bindgen_test]` in wasm.
#[macro_export]
macro_rules! gpu_tests {
    ($(async fn $name:ident($b:ident: &WebGpuBackend) $body:block)*) => {
        $(
            #[cfg(not(target_arch = "wasm32"))]
            #[test]
            fn $name() {
                pollster::block_on(async {
                    let backend = common::gpu::backend().await;
                    let $b: &WebGpuBackend = &backend;
                    $body
                })
            }

            #[cfg(target_arch = "wasm32")]
            #[wasm_bindgen_test::wasm_bindgen_test]
            async fn $name() {
                let backend = common::gpu::backend().await;
                let $b: &WebGpuBackend = &backend;
                $body
            }
        )*
    };
}

/// Deterministic values in about [-1, 1), different per `seed`.
pub fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = fedwasm::rng::Rng::new(seed);
    (0..len).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect()
}

/// Whole numbers in `0..limit` as f32 (class labels, embedding ids).
pub fn ids(len: usize, limit: usize, seed: u64) -> Vec<f32> {
    let mut rng = fedwasm::rng::Rng::new(seed);
    (0..len)
        .map(|_| (rng.next_u64() % limit as u64) as f32)
        .collect()
}

/// The same host data on the GPU and on the CPU.
pub fn both(gpu: &WebGpuBackend, shape: &[usize], data: &[f32]) -> (Tensor, Tensor) {
    (
        gpu.upload(shape, data).unwrap(),
        CpuBackend::new().upload(shape, data).unwrap(),
    )
}

/// Reads a GPU tensor.
pub async fn read(gpu: &WebGpuBackend, t: &Tensor) -> Vec<f32> {
    gpu.read(t).await.unwrap()
}

/// The host elements of a CPU tensor.
pub fn host(t: &Tensor) -> Vec<f32> {
    t.as_f32().expect("a host f32 tensor").to_vec()
}

/// Fails unless every `got[i]` is within `rtol * max(|want[i]|, 1)` of
/// `want[i]` (relative, with an absolute floor for values near zero),
/// naming `what`, the index and both values.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = rtol * w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol || (g.is_nan() && w.is_nan()),
            "{what}: element {i}: GPU {g} vs CPU {w} (tolerance {tol})"
        );
    }
}

/// Declares tests that each run an `async fn()` (that gets its own backend):
/// `#[test]` natively (driven by pollster), `#[wasm_bindgen_test]` in wasm.
#[macro_export]
macro_rules! async_tests {
    ($($name:ident => $f:path),* $(,)?) => {
        $(
            #[cfg(not(target_arch = "wasm32"))]
            #[test]
            fn $name() {
                pollster::block_on($f())
            }

            #[cfg(target_arch = "wasm32")]
            #[wasm_bindgen_test::wasm_bindgen_test]
            async fn $name() {
                $f().await
            }
        )*
    };
}

/// Runs the GEMM `cases` as one `matmul_many` call (one submission, one
/// read-back) and checks each against the f64 reference (`gemm::check`: the
/// f32 dot-product error bound).
pub async fn check_gemms(ctx: &GpuContext, cases: &[super::gemm::Case]) {
    let jobs: Vec<MatmulJob> = cases
        .iter()
        .map(|c| MatmulJob {
            dims: MatmulDims {
                m: c.m,
                k: c.k,
                n: c.n,
                ta: c.ta,
                tb: c.tb,
            },
            a: &c.a,
            b: &c.b,
        })
        .collect();
    let results = matmul_many(ctx, &jobs).await.unwrap();
    assert_eq!(results.len(), cases.len());
    for (c, got) in cases.iter().zip(&results) {
        super::gemm::check(c, got);
    }
}
