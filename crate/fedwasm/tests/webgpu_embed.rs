//! WebGPU embedding kernels (`gather_rows`, `scatter_add_rows`,
//! `gather_rows_backward`) against the CPU backend, natively (llvmpipe) and
//! in headless Chromium. Lookups copy and the gradients add in the CPU's
//! order (ascending positions per row), so everything must match bit for bit.
//! Cases: k = 1, ids of shape [n] and [n, m] with many repeats, one row
//! looked up by every id (a long segment), no ids, a table over 10,000
//! elements (4,000 x 50, as in matrix factorisation), and the CPU's errors.

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use common::gpu::{assert_close, both, host, ids, read, values};
use fedwasm::backend::webgpu::WebGpuBackend;
use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::{Error, Tensor};

/// (table rows v, row length k, id shape): lookups of `ids` in a `[v, k]` table.
fn cases() -> Vec<(usize, usize, Vec<usize>)> {
    vec![
        (1, 1, vec![1]),
        (1, 3, vec![5]),         // one row, looked up 5 times
        (5, 1, vec![300]),       // k = 1, many repeats, > 256 threads
        (7, 3, vec![4, 5]),      // ids [n, m]
        (257, 9, vec![255]),     // odd sizes around a workgroup
        (40, 2, vec![33, 17]),   // 561 lookups of 40 rows
        (4_000, 50, vec![300]),  // matrix factorisation: 200,000 elements
        (2_600, 4, vec![3_001]), // table and gradients over 10,000 elements
        (10, 6, vec![0]),        // no lookups
        (6, 0, vec![4]),         // empty rows
    ]
}

gpu_tests! {
    async fn gather_rows_matches_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        for (s, (v, k, id_shape)) in cases().into_iter().enumerate() {
            let n: usize = id_shape.iter().product();
            let (gt, ct) = both(b, &[v, k], &values(v * k, s as u64));
            let (gi, ci) = both(b, &id_shape, &ids(n, v, 100 + s as u64));
            let got = b.gather_rows(&gt, &gi).unwrap();
            let want = cpu.gather_rows(&ct, &ci).unwrap();
            assert_eq!(got.shape(), want.shape(), "[{v}, {k}] ids {id_shape:?}");
            assert_close(&format!("gather_rows [{v}, {k}] ids {id_shape:?}"), &read(b, &got).await, &host(&want), 0.0);
        }
    }

    async fn gradients_match_the_cpu_bit_for_bit(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        for (s, (v, k, id_shape)) in cases().into_iter().enumerate() {
            let n: usize = id_shape.iter().product();
            let what = format!("[{v}, {k}] ids {id_shape:?}");
            let (gi, ci) = both(b, &id_shape, &ids(n, v, 200 + s as u64));
            // dy is [n, k], or the ids' shape plus k.
            for dy_shape in [vec![n, k], [id_shape.as_slice(), &[k]].concat()] {
                let (gd, cd) = both(b, &dy_shape, &values(n * k, 300 + s as u64));
                let scattered = b.scatter_add_rows(&gd, &gi, v).unwrap();
                let want = cpu.scatter_add_rows(&cd, &ci, v).unwrap();
                assert_eq!(scattered.shape(), want.shape(), "{what}");
                assert_close(&format!("scatter_add_rows {what}"), &read(b, &scattered).await, &host(&want), 0.0);

                let rg = b.gather_rows_backward(&gd, &gi, v).unwrap();
                let want = cpu.gather_rows_backward(&cd, &ci, v).unwrap();
                assert_eq!(rg.shape(), want.shape(), "{what}");
                assert_eq!(rg.rows(), want.rows(), "gather_rows_backward rows {what}");
                assert_eq!(rg.values().shape(), want.values().shape(), "{what}");
                assert_close(
                    &format!("gather_rows_backward {what}"),
                    &read(b, rg.values()).await,
                    &host(want.values()),
                    0.0,
                );
                // And the dense form of the sparse gradient is the scatter.
                let dense = rg.to_dense(b).unwrap();
                assert_close(&format!("to_dense {what}"), &read(b, &dense).await, &read(b, &scattered).await, 0.0);
            }
        }
    }

    async fn a_long_segment_sums_in_position_order(b: &WebGpuBackend) {
        // Every one of 5,000 lookups hits row 2: one thread per column adds
        // 5,000 values, in the CPU's order (so exactly its rounding).
        let cpu = CpuBackend::new();
        let (n, k, v) = (5_000, 3, 4);
        let (gi, ci) = both(b, &[n], &vec![2.0; n]);
        let dy: Vec<f32> = values(n * k, 9).iter().map(|x| x * 1e3).collect();
        let (gd, cd) = both(b, &[n, k], &dy);
        let rg = b.gather_rows_backward(&gd, &gi, v).unwrap();
        let want = cpu.gather_rows_backward(&cd, &ci, v).unwrap();
        assert_eq!(rg.rows(), &[2]);
        assert_close("long segment", &read(b, rg.values()).await, &host(want.values()), 0.0);
    }

    async fn bad_ids_and_shapes_are_the_cpus_errors(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        let (gt, ct) = both(b, &[4, 2], &values(8, 1));
        let (gd, cd) = both(b, &[3, 2], &values(6, 2));
        let bad_ids: [&[f32]; 4] = [&[0.0, 4.0, 1.0], &[0.0, 1.5, 1.0], &[-1.0, 0.0, 0.0], &[0.0, 1.0, f32::NAN]];
        for id in bad_ids {
            let (gi, ci) = both(b, &[3], id);
            let pairs = [
                (b.gather_rows(&gt, &gi).map(|_| ()), cpu.gather_rows(&ct, &ci).map(|_| ())),
                (b.scatter_add_rows(&gd, &gi, 4).map(|_| ()), cpu.scatter_add_rows(&cd, &ci, 4).map(|_| ())),
                (b.gather_rows_backward(&gd, &gi, 4).map(|_| ()), cpu.gather_rows_backward(&cd, &ci, 4).map(|_| ())),
            ];
            for (got, want) in pairs {
                let (got, want) = (got.unwrap_err(), want.unwrap_err());
                assert!(matches!(got, Error::InvalidArgument { .. }), "{got}");
                assert_eq!(got.to_string(), want.to_string(), "ids {id:?}");
            }
        }
        // Shapes: dy rows != ids, a table that is not 2-D, a scalar dy.
        let (gi, ci) = both(b, &[2], &[0.0, 1.0]);
        let (g3, c3) = both(b, &[2, 2, 2], &values(8, 3));
        let (g0, c0) = both(b, &[], &[1.0]);
        let pairs = [
            (b.scatter_add_rows(&gd, &gi, 4).map(|_| ()), cpu.scatter_add_rows(&cd, &ci, 4).map(|_| ())),
            (b.gather_rows_backward(&gd, &gi, 4).map(|_| ()), cpu.gather_rows_backward(&cd, &ci, 4).map(|_| ())),
            (b.gather_rows(&g3, &gi).map(|_| ()), cpu.gather_rows(&c3, &ci).map(|_| ())),
            (b.scatter_add_rows(&g0, &gi, 4).map(|_| ()), cpu.scatter_add_rows(&c0, &ci, 4).map(|_| ())),
        ];
        for (got, want) in pairs {
            let (got, want) = (got.unwrap_err(), want.unwrap_err());
            assert!(matches!(got, Error::Shape { .. }), "{got}");
            assert_eq!(got.to_string(), want.to_string());
        }
    }

    async fn ids_must_come_from_the_host(b: &WebGpuBackend) {
        let (gt, _) = both(b, &[4, 2], &values(8, 1));
        let (gd, _) = both(b, &[2, 2], &values(4, 2));
        let (gi, ci) = both(b, &[2], &[0.0, 3.0]);
        // Ids computed on the device have no host copy.
        let computed = b.add(&gi, &b.zeros(&[2]).unwrap()).unwrap();
        for err in [
            b.gather_rows(&gt, &computed).unwrap_err(),
            b.scatter_add_rows(&gd, &computed, 4).unwrap_err(),
            b.gather_rows_backward(&gd, &computed, 4).unwrap_err(),
        ] {
            assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
            assert!(err.to_string().contains("uploaded from the host"), "{err}");
        }
        // Host tensors are refused as everywhere else.
        assert!(matches!(b.gather_rows(&gt, &ci), Err(Error::Storage { .. })));
        let host_table = Tensor::new(&[4, 2], values(8, 1)).unwrap();
        assert!(matches!(b.gather_rows(&host_table, &gi), Err(Error::Storage { .. })));
        let host_dy = Tensor::new(&[2, 2], values(4, 2)).unwrap();
        assert!(matches!(b.gather_rows_backward(&host_dy, &gi, 4), Err(Error::Storage { .. })));
        // The uploaded ids themselves work.
        let got = b.gather_rows(&gt, &gi).unwrap();
        assert_eq!(got.shape(), &[2, 2]);
    }
}
