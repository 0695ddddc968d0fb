//! GEMM cases and their f64 reference, shared by the native WebGPU tests
//! (`webgpu.rs`) and the browser ones (`browser_webgpu.rs`) so both check
//! the same shapes. Plain data: the tests turn a [`Case`] into whatever job
//! the code under test takes.

/// One GEMM `op(a) * op(b)` in the `Backend::matmul` convention: `op(a)` is
/// `[m, k]`, `op(b)` is `[k, n]`; `a` is stored `[m, k]` row-major (`[k, m]`
/// when `ta`), `b` `[k, n]` (`[n, k]` when `tb`).
pub struct Case {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub ta: bool,
    pub tb: bool,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Case {
            m, k, n, ta, tb, ..
        } = self;
        write!(f, "m={m} k={k} n={n} ta={ta} tb={tb}")
    }
}

/// Deterministic values in [-1, 1).
pub fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 / 1001.0) - 1.0)
        .collect()
}

pub fn case(m: usize, k: usize, n: usize, ta: bool, tb: bool) -> Case {
    Case {
        m,
        k,
        n,
        ta,
        tb,
        a: values(m * k, m + 3 * k),
        b: values(k * n, n + 5 * k + 1),
    }
}

/// The four transpose pairs `(ta, tb)`.
pub const MODES: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// Every `m, n, k` in 1..=12 with one transpose pair: 1,728 GEMMs.
pub fn every_small_shape(ta: bool, tb: bool) -> Vec<Case> {
    (1..=12)
        .flat_map(|m| (1..=12).flat_map(move |k| (1..=12).map(move |n| (m, k, n))))
        .map(|(m, k, n)| case(m, k, n, ta, tb))
        .collect()
}

/// Shapes that break tiled kernels, with every transpose pair (m x k x n).
/// For the one-element-per-thread kernel (skinny results, 16 x 16 blocks):
/// 17x257x33, 65x16x64 (one row past a 64-row tile) and zero dimensions.
/// For the 64 x 64-tile kernel (16-deep k-tiles): 266x1x265 (depth 1,
/// partial tiles on both edges), 130x70x131 (17,030 outputs over 3 x 3
/// workgroups), 130x257x131 (k spans 17 k-tiles, the last partial) and
/// 129x16x640 (exactly one k-tile; one row past a tile, ten column tiles).
pub fn tile_breaking_shapes() -> Vec<Case> {
    let mut cases = Vec::new();
    for (ta, tb) in MODES {
        cases.push(case(17, 257, 33, ta, tb));
        cases.push(case(266, 1, 265, ta, tb));
        cases.push(case(130, 70, 131, ta, tb));
        cases.push(case(65, 16, 64, ta, tb));
        cases.push(case(130, 257, 131, ta, tb));
        cases.push(case(129, 16, 640, ta, tb));
        cases.push(case(3, 0, 4, ta, tb)); // k = 0: all zeros
        cases.push(case(0, 5, 4, ta, tb)); // empty result
        cases.push(case(4, 5, 0, ta, tb));
    }
    assert!(cases.iter().any(|c| c.m * c.n > 10_000));
    cases
}

/// Asserts `|got[i] - want[i]| <= rel * scale[i]` for every element, naming
/// `what` and the first element outside. With `scale[i] = |want[i]|` this is
/// a plain relative tolerance; a sum's error is better bounded relative to
/// the sum of its terms' magnitudes (see [`check`]). A zero scale demands
/// exact equality.
pub fn assert_close(
    what: &dyn std::fmt::Debug,
    got: &[f32],
    want: &[f64],
    scale: &[f64],
    rel: f64,
) {
    assert_eq!(got.len(), want.len(), "{what:?}: length");
    assert_eq!(scale.len(), want.len(), "{what:?}: scale length");
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let tol = rel * s;
        assert!(
            (g as f64 - w).abs() <= tol,
            "{what:?}: element {i} = {g}, want {w} (tolerance {tol:e})"
        );
    }
}

/// Checks one GEMM result (`m * n`, row-major) against an f64 triple loop:
/// `|got - ref| <= 2.5e-7 * k * sum_p |a_ip b_pj|`, the f32 dot-product
/// error bound `k u sum|terms|` (u = 2^-24) with 4x slack (2.5e-6 at k = 10,
/// 6.4e-5 at k = 257). A term lost or doubled costs about `sum|terms| / k`,
/// far above it; zero-depth products must be exactly 0.
pub fn check(c: &Case, got: &[f32]) {
    let Case {
        m, k, n, ta, tb, ..
    } = *c;
    let mut want = vec![0.0f64; m * n];
    let mut scale = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let x = if ta { c.a[p * m + i] } else { c.a[i * k + p] } as f64;
                let y = if tb { c.b[j * k + p] } else { c.b[p * n + j] } as f64;
                want[i * n + j] += x * y;
                scale[i * n + j] += (x * y).abs();
            }
        }
    }
    assert_close(c, got, &want, &scale, 2.5e-7 * k as f64);
}
