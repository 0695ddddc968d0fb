//! The WebGPU tests in a browser: wasm32 only, run by `bash tests/run.sh`
//! (step "wasm32 WebGPU tests (headless Chromium)") in headless Chromium
//! with WebGPU enabled, on its SwiftShader adapter (a CPU Vulkan: no GPU
//! needed). `crate/fedwasm/webdriver.json` holds the browser flags; tests/run.sh
//! says what each is for. By hand (cargo runs tests in `crate/`, where the
//! runner finds `webdriver.json`; the default 20 s for the whole binary is
//! tight on 2 cores):
//!
//! ```sh
//! CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=240 \
//!     cargo test -p fedwasm --target wasm32-unknown-unknown --test browser_webgpu
//! ```
//!
//! The same checks as the native `webgpu.rs` (shared cases in
//! `common/gemm.rs`), on the browser's WebGPU instead of wgpu's Vulkan:
//! * the GEMM against an f64 triple loop for every `m, n, k` in 1..=12 and
//!   every transpose pair, and at shapes that break tiled kernels;
//! * GPU errors come back as the crate's `Error::Gpu`, and the device still
//!   works afterwards.
//!
//! No adapter (WebGPU off, no browser) is a failure with a clear message,
//! never a silent pass. To add a test: an `async fn` under
//! `#[wasm_bindgen_test]` that starts with `let ctx = gpu().await;` and
//! compares with [`assert_close`] or [`gemm::check`].

#![cfg(target_arch = "wasm32")]

mod common;

use common::gemm::{self, assert_close, MODES};
use fedwasm::backend::webgpu::{matmul_many, GpuContext, MatmulDims, MatmulJob};
use fedwasm::Error;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// The device, or a loud failure naming what is missing. Logs the adapter
/// (shown on failure, or always with `--nocapture`).
async fn gpu() -> GpuContext {
    match GpuContext::new().await {
        Ok(ctx) => {
            console_log!("WebGPU adapter: {}", ctx.adapter());
            assert!(!ctx.adapter().name.is_empty(), "the adapter is named");
            ctx
        }
        Err(e) => panic!(
            "the browser WebGPU tests need an adapter and must not pass without one: {e}. \
             Run them through `bash tests/run.sh`, which starts Chromium with \
             --enable-unsafe-webgpu (crate/fedwasm/webdriver.json)."
        ),
    }
}

#[wasm_bindgen_test]
async fn adapter_is_there_and_computes() {
    let ctx = gpu().await;
    // The browser's WebGPU, not some other wgpu backend.
    assert_eq!(ctx.adapter().backend, "webgpu", "{}", ctx.adapter());
    // [[1, 2], [3, 4]] * [[5, 6], [7, 8]] = [[19, 22], [43, 50]], exactly.
    let job = MatmulJob {
        dims: MatmulDims {
            m: 2,
            k: 2,
            n: 2,
            ta: false,
            tb: false,
        },
        a: &[1.0, 2.0, 3.0, 4.0],
        b: &[5.0, 6.0, 7.0, 8.0],
    };
    let got = matmul_many(&ctx, &[job]).await.unwrap();
    assert_close(&"2x2x2", &got[0], &[19.0, 22.0, 43.0, 50.0], &[0.0; 4], 0.0);
}

#[wasm_bindgen_test]
async fn matmul_matches_f64_for_every_small_shape_and_transpose() {
    let ctx = gpu().await;
    for (ta, tb) in MODES {
        // 1,728 GEMMs per submission.
        common::gpu::check_gemms(&ctx, &gemm::every_small_shape(ta, tb)).await;
    }
}

#[wasm_bindgen_test]
async fn matmul_matches_f64_at_shapes_that_break_tiles() {
    let ctx = gpu().await;
    common::gpu::check_gemms(&ctx, &gemm::tile_breaking_shapes()).await;
}

#[wasm_bindgen_test]
async fn gpu_errors_become_crate_errors_and_the_device_stays_usable() {
    let ctx = gpu().await;

    // A validation error: a buffer larger than the device allows.
    let too_big = ctx.device().limits().max_buffer_size + 4;
    let err = ctx
        .scoped("oversized buffer", |ctx| {
            ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("oversized"),
                size: too_big,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Gpu {
                op: "oversized buffer",
                ..
            }
        ),
        "{err}"
    );

    // A shader that does not compile.
    let err = ctx
        .pipeline("broken", "fn main( {", "main")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Gpu { .. }), "{err}");
    assert!(err.to_string().contains("broken"), "{err}");

    // Both were caught by scopes, so the device still works.
    ctx.check("after the errors").unwrap();
    common::gpu::check_gemms(&ctx, &[gemm::case(5, 7, 3, false, false)]).await;
    ctx.wait("wait").await.unwrap();
}
