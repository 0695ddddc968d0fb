//! The WebGPU kernels' validation and the standalone GEMM, natively (wgpu on
//! Vulkan; CI installs Mesa's llvmpipe, a CPU Vulkan driver, so these run on
//! machines without a GPU).
//!
//! * Every `.wgsl` kernel parses and validates with naga under empty
//!   capabilities (so no f64, no i64, no f32 atomics): no GPU needed.
//! * The GEMM against an f64 triple loop for every `m, n, k` in 1..=12 and
//!   every transpose pair, plus shapes that break the two GEMM kernels (see
//!   `common::gemm::tile_breaking_shapes`: both kernels get some). The cases
//!   and the reference are in `common/gemm.rs`, shared with the browser
//!   tests (`browser_webgpu.rs`).
//! * GPU errors come back as the crate's `Error::Gpu`, not panics.
//!
//! No adapter is a failure with a clear message, never a silent pass.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;

use common::gemm::{self, Case, MODES};
use fedwasm::backend::webgpu::{
    matmul_many, matmul_tensors, GpuContext, MatmulDims, MatmulJob, MatmulKernel,
};
use fedwasm::{Error, Tensor};

/// The device, or a loud failure naming what is missing.
fn gpu() -> GpuContext {
    match pollster::block_on(GpuContext::new()) {
        Ok(ctx) => {
            eprintln!("WebGPU adapter: {}", ctx.adapter());
            ctx
        }
        Err(e) => panic!(
            "the WebGPU tests need an adapter and must not pass without one: {e}. \
             `bash tests/run.sh` installs llvmpipe and sets XDG_RUNTIME_DIR=/tmp."
        ),
    }
}

// ---------------------------------------------------------------------------
// Shader validation (naga; no GPU)
// ---------------------------------------------------------------------------

fn validate(name: &str, source: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| format!("{name}: parse error: {}", e.emit_to_string(source)))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .map_err(|e| format!("{name}: invalid: {}", e.emit_to_string(source)))?;
    Ok(())
}

#[test]
fn every_wgsl_kernel_parses_and_validates_with_naga() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/backend/webgpu/kernels");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "wgsl") {
            let source = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Err(e) = validate(&name, &source) {
                panic!("{e}");
            }
            names.push(name);
        }
    }
    assert!(
        names.iter().any(|n| n == "matmul.wgsl"),
        "kernels found in {}: {names:?}",
        dir.display()
    );
}

/// The validation above would catch what WebGPU lacks: under empty
/// capabilities naga rejects f64, i64 and f32 atomics.
#[test]
fn naga_rejects_f64_i64_and_f32_atomics() {
    let shaders = [
        (
            "f64",
            "@group(0) @binding(0) var<storage, read_write> x: array<f32>;
             @compute @workgroup_size(1) fn main() { let d: f64 = 1.0lf; x[0] = f32(d); }",
        ),
        (
            "i64",
            "@group(0) @binding(0) var<storage, read_write> x: array<f32>;
             @compute @workgroup_size(1) fn main() { let d: i64 = 1li; x[0] = f32(d); }",
        ),
        (
            "f32 atomic",
            "@group(0) @binding(0) var<storage, read_write> x: atomic<f32>;
             @compute @workgroup_size(1) fn main() { atomicAdd(&x, 1.0); }",
        ),
    ];
    for (name, source) in shaders {
        assert!(validate(name, source).is_err(), "{name} passed validation");
    }
    validate(
        "plain f32",
        "@group(0) @binding(0) var<storage, read_write> x: array<f32>;
         @compute @workgroup_size(1) fn main() { x[0] = 1.0; }",
    )
    .unwrap();
}

// ---------------------------------------------------------------------------
// GEMM against an f64 reference
// ---------------------------------------------------------------------------

/// Runs `cases` in one submission and checks each against the f64 reference
/// ([`common::gpu::check_gemms`]).
fn check(ctx: &GpuContext, cases: &[Case]) {
    pollster::block_on(common::gpu::check_gemms(ctx, cases));
}

#[test]
fn matmul_matches_f64_for_every_small_shape_and_transpose() {
    let ctx = gpu();
    for (ta, tb) in MODES {
        // 1,728 GEMMs per submission: llvmpipe is slow to submit, not to compute.
        check(&ctx, &gemm::every_small_shape(ta, tb));
    }
}

#[test]
fn matmul_matches_f64_at_shapes_that_break_tiles() {
    let ctx = gpu();
    let cases = gemm::tile_breaking_shapes();
    // Both GEMM kernels get these: the 64x64-block one for the large
    // results, the one-element-per-thread one for the skinny ones.
    let kernels: std::collections::HashSet<MatmulKernel> = cases
        .iter()
        .map(|c| {
            let dims = MatmulDims {
                m: c.m,
                k: c.k,
                n: c.n,
                ta: c.ta,
                tb: c.tb,
            };
            dims.kernel()
        })
        .collect();
    assert_eq!(kernels.len(), 2, "both GEMM kernels are exercised");
    check(&ctx, &cases);
}

#[test]
fn matmul_tensors_checks_shapes_and_transposes() {
    let ctx = gpu();
    // [[1, 2], [3, 4]]^T * [[5, 6], [7, 8]] = [[26, 30], [38, 44]]
    let a = Tensor::new(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let b = Tensor::new(&[2, 2], vec![5.0, 6.0, 7.0, 8.0]).unwrap();
    let c = pollster::block_on(matmul_tensors(&ctx, &a, &b, true, false)).unwrap();
    assert_eq!(c.shape(), [2, 2]);
    for (g, w) in c.as_f32().unwrap().iter().zip([26.0, 30.0, 38.0, 44.0]) {
        assert!((g - w).abs() <= 1e-6 * w, "{g} vs {w}");
    }
    let wide = Tensor::new(&[2, 3], vec![0.0; 6]).unwrap();
    let err = pollster::block_on(matmul_tensors(&ctx, &a, &wide, false, true)).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let job = MatmulJob {
        dims: MatmulDims {
            m: 2,
            k: 2,
            n: 2,
            ta: false,
            tb: false,
        },
        a: &[1.0; 4],
        b: &[1.0; 3],
    };
    let err = pollster::block_on(matmul_many(&ctx, &[job])).unwrap_err();
    assert!(matches!(err, Error::DataLength { .. }), "{err}");
}

// ---------------------------------------------------------------------------
// GPU errors
// ---------------------------------------------------------------------------

#[test]
fn gpu_errors_become_crate_errors_and_the_device_stays_usable() {
    let ctx = gpu();
    assert!(!ctx.adapter().name.is_empty());

    // A validation error: a buffer larger than the device allows.
    let too_big = ctx.device().limits().max_buffer_size + 4;
    let err = pollster::block_on(ctx.scoped("oversized buffer", |ctx| {
        ctx.device().create_buffer(&wgpu_buffer(too_big))
    }))
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
    let err = pollster::block_on(ctx.pipeline("broken", "fn main( {", "main")).unwrap_err();
    assert!(matches!(err, Error::Gpu { .. }), "{err}");
    assert!(err.to_string().contains("broken"), "{err}");

    // Both were caught by scopes, so the device still works.
    ctx.check("after the errors").unwrap();
    check(&ctx, &[gemm::case(5, 7, 3, false, false)]);
    pollster::block_on(ctx.wait("wait")).unwrap();
}

fn wgpu_buffer(size: u64) -> wgpu::BufferDescriptor<'static> {
    wgpu::BufferDescriptor {
        label: Some("oversized"),
        size,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    }
}
