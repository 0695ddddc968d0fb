//! The f32 GEMM of the CPU backend against a plain f64 triple loop, for every
//! transpose combination, at sizes chosen to break blocked kernels: every
//! `m, n, k` in 1..=12 (partial micro-tiles on every edge), shapes that cross
//! the packing blocks (k > 256, m > 64, n > 1024), a depth-1 product and one
//! over 10,000 output elements. The wasm32 run of this file tests the wasm
//! SIMD kernel; the native run tests matrixmultiply's.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;

use fedwasm::backend::{Backend, CpuBackend};

fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 / 1001.0) - 1.0)
        .collect()
}

/// Checks `op(a) * op(b)` for one shape and transpose pair.
fn check(b: &CpuBackend, m: usize, k: usize, n: usize, ta: bool, tb: bool) {
    let av = values(m * k, 1);
    let bv = values(k * n, 2);
    let a_shape = if ta { [k, m] } else { [m, k] };
    let b_shape = if tb { [n, k] } else { [k, n] };
    let a = b.upload(&a_shape, &av).unwrap();
    let bt = b.upload(&b_shape, &bv).unwrap();
    let c = b.matmul(&a, &bt, ta, tb).unwrap();
    assert_eq!(c.shape(), [m, n]);
    let got = c.as_f32().unwrap();
    for i in 0..m {
        for j in 0..n {
            let (mut want, mut scale) = (0.0f64, 0.0f64);
            for p in 0..k {
                let x = if ta { av[p * m + i] } else { av[i * k + p] } as f64;
                let y = if tb { bv[j * k + p] } else { bv[p * n + j] } as f64;
                want += x * y;
                scale += (x * y).abs();
            }
            // f32 accumulation error grows with the sum of |terms|.
            let tol = 1e-6 * (1.0 + scale) * (k as f64).sqrt().max(1.0);
            let g = got[i * n + j] as f64;
            assert!(
                (g - want).abs() <= tol,
                "{m}x{k}x{n} ta={ta} tb={tb} at ({i}, {j}): {g} vs {want}"
            );
        }
    }
}

const TRANSPOSES: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_small_shape_and_transpose() {
    let b = CpuBackend::new();
    for m in 1..=12 {
        for k in 1..=12 {
            for n in 1..=12 {
                for (ta, tb) in TRANSPOSES {
                    check(&b, m, k, n, ta, tb);
                }
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn shapes_that_cross_packing_blocks() {
    let b = CpuBackend::new();
    for (m, k, n) in [
        (17, 257, 33),
        (266, 265, 1),
        (1, 300, 1030),
        (130, 9, 97),
        (101, 129, 103),
    ] {
        for (ta, tb) in TRANSPOSES {
            check(&b, m, k, n, ta, tb);
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn empty_depth_gives_zeros() {
    let b = CpuBackend::new();
    let a = b.upload(&[3, 0], &[]).unwrap();
    let c = b.upload(&[0, 4], &[]).unwrap();
    let out = b.matmul(&a, &c, false, false).unwrap();
    assert_eq!(out.shape(), [3, 4]);
    assert!(out.as_f32().unwrap().iter().all(|&v| v == 0.0));
}
