//! WebGPU softmax, losses and metric reductions against the CPU backend,
//! natively (llvmpipe) and in headless Chromium.
//!
//! Shapes that break row and tree kernels: one row, one class, row lengths
//! around the power-of-two lane counts (16, 64, 256), batches around a
//! workgroup, batches over 10,000 elements (several workgroups of partial
//! sums) and empty batches. Batch totals are also checked against the f64
//! CPU backend, which tells the GPU's tree sums from the f32 CPU's
//! sequential ones. Counts must be exact, and so must every error kind.

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use common::gpu::{assert_close, both, host, ids, read, values};
use fedwasm::backend::webgpu::WebGpuBackend;
use fedwasm::backend::{Backend, CpuBackend, LossOutput};
use fedwasm::{Error, Tensor};

/// `(rows, classes)`: see the module docs.
const ROWS: [(usize, usize); 12] = [
    (1, 1),
    (1, 10),
    (3, 1),
    (20, 10),
    (33, 17),
    (5, 63),
    (256, 62),
    (257, 65),
    (4, 255),
    (2, 257),
    (300, 62),
    (0, 10),
];

/// Fails unless each `got[i]` is within `rtol` times the largest `|want|`
/// (at least 1e-30) of `want[i]`: for tensors whose entries are all small
/// (gradients scaled by 1/n), where [`assert_close`]'s floor of 1 says nothing.
fn assert_scaled(what: &str, got: &[f32], want: &[f32], rtol: f32) {
    let scale = want.iter().fold(1e-30f32, |m, w| m.max(w.abs()));
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * scale,
            "{what}: element {i}: GPU {g} vs CPU {w} (tolerance {})",
            rtol * scale
        );
    }
}

/// Logits of `n` rows of `c`, spread over about [-4, 4).
fn logits(n: usize, c: usize, seed: u64) -> Vec<f32> {
    values(n * c, seed).into_iter().map(|v| 4.0 * v).collect()
}

/// The f64 CPU backend's `[1]` result of `f` on the same host data.
fn f64_total(f: impl Fn(&CpuBackend) -> Tensor) -> f32 {
    f(&CpuBackend::f64()).to_f32_vec()[0]
}

async fn read_loss(b: &WebGpuBackend, out: &LossOutput) -> (Vec<f32>, Vec<f32>) {
    let got = b.read_many(&[&out.loss, &out.grad]).await.unwrap();
    (got[0].clone(), got[1].clone())
}

gpu_tests! {
    async fn softmax_and_its_gradient_match_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        let mut cases: Vec<Vec<usize>> = ROWS.iter().map(|&(n, c)| vec![n, c]).collect();
        cases.extend([vec![2, 3, 5], vec![7], vec![4, 0]]);
        for (s, shape) in cases.iter().enumerate() {
            let len: usize = shape.iter().product();
            let s = s as u64;
            let (gx, cx) = both(b, shape, &values(len, s).iter().map(|v| 4.0 * v).collect::<Vec<_>>());
            let cy = cpu.softmax(&cx).unwrap();
            let (gy, _) = both(b, shape, &host(&cy));
            let (gdy, cdy) = both(b, shape, &values(len, 100 + s));
            let outs = [b.softmax(&gx).unwrap(), b.softmax_backward(&gy, &gdy).unwrap()];
            assert_eq!(outs[0].shape(), &shape[..]);
            assert_eq!(outs[1].shape(), &shape[..]);
            let got = b.read_many(&outs.iter().collect::<Vec<_>>()).await.unwrap();
            assert_scaled(&format!("softmax {shape:?}"), &got[0], &host(&cy), 1e-5);
            let want = host(&cpu.softmax_backward(&cy, &cdy).unwrap());
            assert_scaled(&format!("softmax_backward {shape:?}"), &got[1], &want, 1e-5);
        }
        // Max-subtracted: logits far past exp's f32 range still give finite
        // probabilities; equal logits give a uniform row.
        let big = [1000.0, 999.0, -1000.0, 88.0, 89.0, 90.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0];
        let (gx, cx) = both(b, &[2, 6], &big);
        let got = read(b, &b.softmax(&gx).unwrap()).await;
        assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
        assert_scaled("softmax of large logits", &got, &host(&cpu.softmax(&cx).unwrap()), 1e-5);
        // Errors as on the CPU.
        let (g23, c23) = both(b, &[2, 3], &values(6, 1));
        let (g32, c32) = both(b, &[3, 2], &values(6, 2));
        assert!(matches!(b.softmax_backward(&g23, &g32), Err(Error::Shape { .. })));
        assert!(matches!(cpu.softmax_backward(&c23, &c32), Err(Error::Shape { .. })));
        let (g0, c0) = both(b, &[], &[1.0]);
        assert!(matches!(b.softmax(&g0), Err(Error::Shape { .. })));
        assert!(matches!(cpu.softmax(&c0), Err(Error::Shape { .. })));
    }

    async fn softmax_cross_entropy_matches_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        for (s, &(n, c)) in ROWS.iter().enumerate() {
            let s = s as u64;
            let z = logits(n, c, s);
            let y = ids(n, c, 50 + s);
            let (gz, cz) = both(b, &[n, c], &z);
            let (gl, cl) = both(b, &[n], &y);
            let out = b.softmax_cross_entropy(&gz, &gl).unwrap();
            assert_eq!(out.loss.shape(), &[1]);
            assert_eq!(out.grad.shape(), &[n, c]);
            let (loss, grad) = read_loss(b, &out).await;
            let want = cpu.softmax_cross_entropy(&cz, &cl).unwrap();
            let what = format!("softmax_cross_entropy [{n}, {c}]");
            assert_close(&format!("{what} loss"), &loss, &host(&want.loss), 1e-5);
            let exact = f64_total(|cpu64| {
                let (z, l) = (cpu64.upload(&[n, c], &z).unwrap(), cpu64.upload(&[n], &y).unwrap());
                cpu64.softmax_cross_entropy(&z, &l).unwrap().loss
            });
            assert_close(&format!("{what} loss vs f64"), &loss, &[exact], 1e-5);
            assert_scaled(&format!("{what} grad"), &grad, &host(&want.grad), 1e-5);
            // Deterministic: the same bits again.
            let again = read_loss(b, &b.softmax_cross_entropy(&gz, &gl).unwrap()).await;
            assert_eq!(loss[0].to_bits(), again.0[0].to_bits(), "{what}: loss not deterministic");
        }
    }

    async fn sparse_cross_entropy_matches_the_cpu_with_keras_clipping(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        for (s, &(n, c)) in ROWS.iter().enumerate() {
            let s = s as u64;
            let y = ids(n, c, 70 + s);
            let mut probs = host(&cpu.softmax(&cpu.upload(&[n, c], &logits(n, c, s)).unwrap()).unwrap());
            // Probabilities of the label at and past both clip bounds.
            for (r, p) in [0.0, 1.0, 1e-8, 1.0 - 1e-8, 1e-7, 2e-7].into_iter().enumerate().take(n) {
                probs[r * c + y[r] as usize] = p;
            }
            let (gp, cp) = both(b, &[n, c], &probs);
            let (gl, cl) = both(b, &[n], &y);
            let (loss, grad) = read_loss(b, &b.sparse_cross_entropy(&gp, &gl).unwrap()).await;
            let want = cpu.sparse_cross_entropy(&cp, &cl).unwrap();
            let what = format!("sparse_cross_entropy [{n}, {c}]");
            assert_close(&format!("{what} loss"), &loss, &host(&want.loss), 1e-5);
            let exact = f64_total(|cpu64| {
                let (p, l) = (cpu64.upload(&[n, c], &probs).unwrap(), cpu64.upload(&[n], &y).unwrap());
                cpu64.sparse_cross_entropy(&p, &l).unwrap().loss
            });
            assert_close(&format!("{what} loss vs f64"), &loss, &[exact], 1e-5);
            // -1 / (n p) can be large (p near the clip): relative to each entry.
            let want = host(&want.grad);
            for (i, (&g, &w)) in grad.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-6 * w.abs(), "{what} grad {i}: GPU {g} vs CPU {w}");
            }
        }
    }

    async fn mean_squared_error_and_metric_sums_match_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        for (s, &n) in [1, 7, 255, 256, 257, 1_000, 65_537, 100_003, 0].iter().enumerate() {
            let s = s as u64;
            // Ratings-like data: whole targets, predictions near them, so
            // some differences sit exactly on the tolerance.
            let target: Vec<f32> = ids(n, 5, 10 + s).iter().map(|v| v + 1.0).collect();
            let mut pred: Vec<f32> = values(n, 20 + s).iter().zip(&target).map(|(v, t)| t + v).collect();
            for p in pred.iter_mut().step_by(7) {
                *p = p.round() + 0.5;
            }
            // Equal lengths, different shapes: compared flat.
            let (gp, cp) = both(b, &[n, 1], &pred);
            let (gt, ct) = both(b, &[n], &target);
            let mse = b.mean_squared_error(&gp, &gt).unwrap();
            assert_eq!(mse.grad.shape(), &[n, 1]);
            let outs = [
                mse.loss,
                mse.grad,
                b.squared_error_sum(&gp, &gt).unwrap(),
                b.count_within(&gp, &gt, 0.5).unwrap(),
                b.count_within(&gp, &gt, 0.0).unwrap(),
            ];
            let got = b.read_many(&outs.iter().collect::<Vec<_>>()).await.unwrap();
            let want = cpu.mean_squared_error(&cp, &ct).unwrap();
            let what = format!("[{n}]");
            let (p64, t64) = (CpuBackend::f64().upload(&[n], &pred).unwrap(), CpuBackend::f64().upload(&[n], &target).unwrap());
            let cpu64 = CpuBackend::f64();
            assert_close(&format!("mse loss {what}"), &got[0], &host(&want.loss), 1e-4);
            let exact = cpu64.mean_squared_error(&p64, &t64).unwrap().loss.to_f32_vec();
            assert_close(&format!("mse loss {what} vs f64"), &got[0], &exact, 1e-5);
            assert_scaled(&format!("mse grad {what}"), &got[1], &host(&want.grad), 1e-6);
            let sum = host(&cpu.squared_error_sum(&cp, &ct).unwrap());
            assert_close(&format!("squared_error_sum {what}"), &got[2], &sum, 1e-4);
            let exact = cpu64.squared_error_sum(&p64, &t64).unwrap().to_f32_vec();
            assert_close(&format!("squared_error_sum {what} vs f64"), &got[2], &exact, 1e-5);
            assert_eq!(got[3], host(&cpu.count_within(&cp, &ct, 0.5).unwrap()), "count_within 0.5 {what}");
            assert_eq!(got[4], host(&cpu.count_within(&cp, &ct, 0.0).unwrap()), "count_within 0 {what}");
        }
        // Lengths must agree, as on the CPU.
        let (g3, c3) = both(b, &[3], &values(3, 1));
        let (g4, c4) = both(b, &[4], &values(4, 2));
        assert!(matches!(b.mean_squared_error(&g3, &g4), Err(Error::Shape { .. })));
        assert!(matches!(cpu.mean_squared_error(&c3, &c4), Err(Error::Shape { .. })));
        assert!(matches!(b.squared_error_sum(&g3, &g4), Err(Error::Shape { .. })));
        assert!(matches!(cpu.squared_error_sum(&c3, &c4), Err(Error::Shape { .. })));
        assert!(matches!(b.count_within(&g3, &g4, 0.5), Err(Error::Shape { .. })));
        assert!(matches!(cpu.count_within(&c3, &c4, 0.5), Err(Error::Shape { .. })));
    }

    async fn count_correct_takes_the_first_arg_max_as_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        for (s, &(n, c)) in ROWS.iter().enumerate() {
            let s = s as u64;
            // Scores on three levels: many ties, so only the first arg-max
            // of a row counts; labels: the first arg-max for every other row,
            // the last one (a tie) or a random class otherwise.
            let scores: Vec<f32> = values(n * c, s).iter().map(|v| (v * 1.5).round()).collect();
            let random = ids(n, c, 90 + s);
            let y: Vec<f32> = (0..n)
                .map(|r| {
                    let row = &scores[r * c..(r + 1) * c];
                    let max = row.iter().fold(f32::MIN, |m, &v| m.max(v));
                    match r % 3 {
                        0 => row.iter().position(|&v| v == max).unwrap() as f32,
                        1 => row.iter().rposition(|&v| v == max).unwrap() as f32,
                        _ => random[r],
                    }
                })
                .collect();
            let (gs, cs) = both(b, &[n, c], &scores);
            let (gl, cl) = both(b, &[n], &y);
            let got = read(b, &b.count_correct(&gs, &gl).unwrap()).await;
            let want = host(&cpu.count_correct(&cs, &cl).unwrap());
            assert_eq!(got, want, "count_correct [{n}, {c}]");
        }
        // Ties and infinities, by hand: row 0's first maximum is column 1,
        // row 1 is all -inf (column 0), row 2's maximum is +inf in column 2.
        let inf = f32::INFINITY;
        let scores = [1.0, 3.0, 3.0, -inf, -inf, -inf, -1.0, 0.0, inf];
        let (gs, _) = both(b, &[3, 3], &scores);
        for (labels, want) in [([1.0, 0.0, 2.0], 3.0), ([2.0, 1.0, 1.0], 0.0), ([1.0, 2.0, 2.0], 2.0)] {
            let (gl, _) = both(b, &[3], &labels);
            assert_eq!(read(b, &b.count_correct(&gs, &gl).unwrap()).await, [want], "labels {labels:?}");
        }
    }

    async fn grids_past_the_per_dimension_limit_fold_into_two(b: &WebGpuBackend) {
        // 129 classes: 256 lanes, one row per workgroup, so 32,769 rows need
        // more than the 32,768 workgroups a grid row holds: the last row is
        // in the grid's second row.
        let cpu = CpuBackend::new();
        let (n, c) = (32_769, 129);
        let (gz, cz) = both(b, &[n, c], &logits(n, c, 5));
        let (gl, cl) = both(b, &[n], &ids(n, c, 6));
        let (loss, grad) = read_loss(b, &b.softmax_cross_entropy(&gz, &gl).unwrap()).await;
        let want = cpu.softmax_cross_entropy(&cz, &cl).unwrap();
        assert_close("softmax_cross_entropy loss", &loss, &host(&want.loss), 1e-5);
        assert_scaled("softmax_cross_entropy grad", &grad, &host(&want.grad), 1e-5);
    }

    async fn flat_reductions_past_the_per_dimension_limit_fold_into_two(b: &WebGpuBackend) {
        // 8,388,908 elements: 32,770 partial sums of 256, past the 32,768
        // workgroups of one grid row, so the grid has a second row whose
        // extra workgroups own no partial and must not write one.
        let n = 32_770 * 256 - 12;
        let pred = values(n, 31);
        let target: Vec<f32> = values(n, 32).iter().map(|v| v * 0.5).collect();
        let (gp, _) = both(b, &[n], &pred);
        let (gt, _) = both(b, &[n], &target);
        let got = b
            .read_many(&[
                &b.squared_error_sum(&gp, &gt).unwrap(),
                &b.count_within(&gp, &gt, 0.5).unwrap(),
                &b.mean_squared_error(&gp, &gt).unwrap().loss,
            ])
            .await
            .unwrap();
        let (p64, t64) = (
            CpuBackend::f64().upload(&[n], &pred).unwrap(),
            CpuBackend::f64().upload(&[n], &target).unwrap(),
        );
        let cpu64 = CpuBackend::f64();
        let want_sq = cpu64.squared_error_sum(&p64, &t64).unwrap().to_f32_vec();
        // Counted on the f32 CPU backend: the same f32 differences.
        let (p32, t32) = (
            CpuBackend::new().upload(&[n], &pred).unwrap(),
            CpuBackend::new().upload(&[n], &target).unwrap(),
        );
        let want_within = CpuBackend::new().count_within(&p32, &t32, 0.5).unwrap().to_f32_vec();
        let want_mse = cpu64.mean_squared_error(&p64, &t64).unwrap().loss.to_f32_vec();
        assert_close("squared_error_sum over 8.4M", &got[0], &want_sq, 1e-5);
        assert_eq!(got[1], want_within, "count_within over 8.4M (exact)");
        assert_close("mean_squared_error over 8.4M", &got[2], &want_mse, 1e-5);
    }

    async fn bad_labels_and_shapes_are_refused_as_on_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        let (gs, cs) = both(b, &[3, 4], &values(12, 1));
        // Not whole numbers in 0..4: fractional, negative, too large, NaN.
        for bad in [[0.0, 1.5, 2.0], [0.0, -1.0, 2.0], [0.0, 1.0, 4.0], [f32::NAN, 1.0, 2.0]] {
            let (gl, cl) = both(b, &[3], &bad);
            let kind = |r: Result<(), Error>| matches!(r, Err(Error::InvalidArgument { .. }));
            for (name, g, c) in [
                ("softmax_cross_entropy", kind(b.softmax_cross_entropy(&gs, &gl).map(drop)), kind(cpu.softmax_cross_entropy(&cs, &cl).map(drop))),
                ("sparse_cross_entropy", kind(b.sparse_cross_entropy(&gs, &gl).map(drop)), kind(cpu.sparse_cross_entropy(&cs, &cl).map(drop))),
                ("count_correct", kind(b.count_correct(&gs, &gl).map(drop)), kind(cpu.count_correct(&cs, &cl).map(drop))),
            ] {
                assert!(g && c, "{name} with labels {bad:?}: GPU refused {g}, CPU refused {c}");
            }
        }
        // The wrong number of labels, and scores that are not [n, classes].
        let (gl2, cl2) = both(b, &[2], &[0.0, 1.0]);
        let (g12, c12) = both(b, &[12], &values(12, 2));
        let (gl12, cl12) = both(b, &[12], &[0.0; 12]);
        let shape = |r: Result<(), Error>| matches!(r, Err(Error::Shape { .. }));
        assert!(shape(b.softmax_cross_entropy(&gs, &gl2).map(drop)) && shape(cpu.softmax_cross_entropy(&cs, &cl2).map(drop)));
        assert!(shape(b.sparse_cross_entropy(&gs, &gl2).map(drop)) && shape(cpu.sparse_cross_entropy(&cs, &cl2).map(drop)));
        assert!(shape(b.count_correct(&gs, &gl2).map(drop)) && shape(cpu.count_correct(&cs, &cl2).map(drop)));
        assert!(shape(b.softmax_cross_entropy(&g12, &gl12).map(drop)) && shape(cpu.softmax_cross_entropy(&c12, &cl12).map(drop)));
        assert!(shape(b.count_correct(&g12, &gl12).map(drop)) && shape(cpu.count_correct(&c12, &cl12).map(drop)));
        // Labels computed on the device have no host copy to check.
        let (gl, _) = both(b, &[3], &[0.0, 1.0, 2.0]);
        let device_labels = b.add(&gl, &b.zeros(&[3]).unwrap()).unwrap();
        for r in [
            b.softmax_cross_entropy(&gs, &device_labels).map(drop),
            b.sparse_cross_entropy(&gs, &device_labels).map(drop),
            b.count_correct(&gs, &device_labels).map(drop),
        ] {
            match r {
                Err(Error::InvalidArgument { detail, .. }) => assert!(detail.contains("uploaded"), "{detail}"),
                other => panic!("expected InvalidArgument, got {other:?}"),
            }
        }
        // A host tensor handed to the GPU backend.
        let (_, cl3) = both(b, &[3], &[0.0, 1.0, 2.0]);
        assert!(matches!(b.softmax_cross_entropy(&gs, &cl3), Err(Error::Storage { .. })));
        assert!(matches!(b.count_correct(&cs, &gl), Err(Error::Storage { .. })));
        assert!(matches!(b.mean_squared_error(&gs, &cs), Err(Error::Storage { .. })));
    }
}
