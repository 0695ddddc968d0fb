//! The CPU backend's convolution (im2col + GEMM) against a direct nested-loop
//! convolution in f64, NHWC input and HWIO kernel, for both paddings and both
//! kernel sizes, on odd shapes, images narrower than the kernel ("same") and
//! batch 1. The gradient checks (gradients.rs) show backward matches forward;
//! this shows forward is a convolution.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;

use fedwasm::backend::{Backend, CpuBackend, Padding};
use fedwasm::tensor::{Precision, Tensor};

fn values(len: usize, seed: usize) -> Vec<f64> {
    (0..len)
        .map(|i| (((i * 7919 + seed * 104729) % 1009) as f64 / 504.0) - 1.0)
        .collect()
}

/// Direct convolution: `y[b, oy, ox, f] = bias[f] + sum x[b, iy, ix, c] * w[ky, kx, c, f]`.
fn direct(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    k: usize,
    f: usize,
    bias: &[f64],
    same: bool,
) -> Vec<f64> {
    let [n, h, wd, c] = xs;
    let (ho, wo, pad) = if same {
        (h, wd, (k - 1) / 2)
    } else {
        (h - k + 1, wd - k + 1, 0)
    };
    let mut y = vec![0.0; n * ho * wo * f];
    for b in 0..n {
        for oy in 0..ho {
            for ox in 0..wo {
                for o in 0..f {
                    let mut s = bias[o];
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy + ky) as isize - pad as isize;
                            let ix = (ox + kx) as isize - pad as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            for ci in 0..c {
                                let xv = x[((b * h + iy as usize) * wd + ix as usize) * c + ci];
                                s += xv * w[((ky * k + kx) * c + ci) * f + o];
                            }
                        }
                    }
                    y[((b * ho + oy) * wo + ox) * f + o] = s;
                }
            }
        }
    }
    y
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn conv2d_matches_direct_convolution() {
    let shapes: [([usize; 4], usize); 5] = [
        ([1, 5, 5, 1], 1),
        ([2, 7, 6, 3], 4),
        ([1, 6, 9, 2], 3),
        ([3, 2, 3, 2], 2),
        ([1, 28, 28, 1], 32),
    ];
    for k in [3, 5] {
        for same in [false, true] {
            for &(xs, f) in &shapes {
                if !same && (xs[1] < k || xs[2] < k) {
                    continue;
                }
                let xv = values(xs.iter().product(), 1);
                let wv = values(k * k * xs[3] * f, 2);
                let bv = values(f, 3);
                let want = direct(&xv, xs, &wv, k, f, &bv, same);
                let padding = if same { Padding::Same } else { Padding::Valid };
                // f64 backend: tight; f32 backend: f32 rounding.
                for (b, precision, tol) in [
                    (CpuBackend::f64(), Precision::F64, 1e-12),
                    (CpuBackend::new(), Precision::F32, 1e-6),
                ] {
                    let to = |shape: &[usize], v: &[f64]| {
                        Tensor::from_f64(shape, v.to_vec())
                            .unwrap()
                            .to_precision(precision)
                    };
                    let x = to(&xs, &xv);
                    let w = to(&[k, k, xs[3], f], &wv);
                    let bias = to(&[f], &bv);
                    let y = b.conv2d(&x, &w, &bias, padding).unwrap();
                    let got = y.to_f64_vec();
                    assert_eq!(got.len(), want.len());
                    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g - e).abs() <= tol * (1.0 + e.abs()) * (k * k * xs[3]) as f64,
                            "k={k} same={same} x={xs:?} f={f} at {i}: {g} vs {e}"
                        );
                    }
                }
            }
        }
    }
}
