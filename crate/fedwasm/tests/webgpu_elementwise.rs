//! WebGPU elementwise kernels against the CPU backend, natively (llvmpipe)
//! and in headless Chromium. Sizes: 1, odd sizes around a workgroup (255,
//! 257), and one over 10,000 elements (several workgroups). Dropout masks
//! must equal the CPU's bit for bit.

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use common::gpu::{assert_close, both, host, read, values};
use fedwasm::backend::webgpu::WebGpuBackend;
use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::Error;

const SIZES: [usize; 5] = [1, 7, 255, 257, 10_007];

gpu_tests! {
    async fn add_mul_relu_match_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        for (s, &n) in SIZES.iter().enumerate() {
            let shape = [n];
            let (ga, ca) = both(b, &shape, &values(n, s as u64));
            let (gb, cb) = both(b, &shape, &values(n, 100 + s as u64));
            let got = b.read_many(&[
                &b.add(&ga, &gb).unwrap(),
                &b.mul(&ga, &gb).unwrap(),
                &b.relu(&ga).unwrap(),
                &b.relu_backward(&ga, &gb).unwrap(),
            ]).await.unwrap();
            assert_close("add", &got[0], &host(&cpu.add(&ca, &cb).unwrap()), 1e-6);
            assert_close("mul", &got[1], &host(&cpu.mul(&ca, &cb).unwrap()), 1e-6);
            assert_close("relu", &got[2], &host(&cpu.relu(&ca).unwrap()), 0.0);
            assert_close("relu_backward", &got[3], &host(&cpu.relu_backward(&ca, &cb).unwrap()), 0.0);
        }
    }

    async fn add_bias_and_sum_leading_match_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        // (rows, cols): a single element, odd sizes across the 16-column
        // blocks and 16 row lanes, and a tall case over 10,000 elements.
        for (s, &(rows, cols)) in [(1, 1), (3, 17), (33, 5), (1_000, 31), (15_680, 32), (0, 3), (4, 0)]
            .iter()
            .enumerate()
        {
            let (gx, cx) = both(b, &[rows, cols], &values(rows * cols, s as u64));
            let (gb, cb) = both(b, &[cols], &values(cols, 50 + s as u64));
            let got = b
                .read_many(&[&b.add_bias(&gx, &gb).unwrap(), &b.sum_leading(&gx).unwrap()])
                .await
                .unwrap();
            let what = format!("[{rows}, {cols}]");
            assert_close(&format!("add_bias {what}"), &got[0], &host(&cpu.add_bias(&cx, &cb).unwrap()), 1e-6);
            assert_close(&format!("sum_leading {what}"), &got[1], &host(&cpu.sum_leading(&cx).unwrap()), 1e-4);
        }
        let (gx, _) = both(b, &[2, 3], &values(6, 1));
        let (gb, _) = both(b, &[2], &values(2, 1));
        assert!(matches!(b.add_bias(&gx, &gb), Err(Error::Shape { .. })));
    }

    async fn add_assign_updates_in_place_without_touching_clones(b: &WebGpuBackend) {
        let n = 10_007;
        let (ga, ca) = both(b, &[n], &values(n, 1));
        let (gx, cx) = both(b, &[n], &values(n, 2));
        let mut acc = ga.clone();
        b.add_assign(&mut acc, &gx).unwrap();
        b.add_assign(&mut acc, &gx).unwrap();
        let mut want = ca.clone();
        let cpu = CpuBackend::new();
        cpu.add_assign(&mut want, &cx).unwrap();
        cpu.add_assign(&mut want, &cx).unwrap();
        assert_close("add_assign", &read(b, &acc).await, &host(&want), 1e-6);
        // The clone `ga` still holds the uploaded values (copy on write).
        assert_close("the clone", &read(b, &ga).await, &host(&ca), 0.0);
    }

    async fn shape_errors_and_host_tensors_are_refused(b: &WebGpuBackend) {
        let (ga, ca) = both(b, &[2, 3], &values(6, 1));
        let gb = b.upload(&[3, 2], &values(6, 2)).unwrap();
        assert!(matches!(b.add(&ga, &gb), Err(Error::Shape { .. })));
        // A host tensor handed to the GPU backend, and the reverse.
        assert!(matches!(b.add(&ga, &ca), Err(Error::Storage { .. })));
        assert!(matches!(CpuBackend::new().relu(&ga), Err(Error::Storage { .. })));
        assert!(CpuBackend::new().read(&ga).await.is_err());
    }

    async fn empty_tensors_read_back_empty(b: &WebGpuBackend) {
        let (ga, _) = both(b, &[0, 4], &[]);
        let out = b.relu(&ga).unwrap();
        assert_eq!(out.shape(), &[0, 4]);
        assert!(read(b, &out).await.is_empty());
    }

    async fn dropout_mask_equals_the_cpu_bit_for_bit(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        // Seeds with either half zero or all ones, streams at both ends;
        // 0.15, where 1 / (1 - rate) in f32 arithmetic is one ulp off the
        // CPU's (f64, rounded once).
        let draws: [(f32, u64, u32); 6] = [
            (0.5, 42, 3),
            (0.15, 3, 9),
            (0.1, 0xDEAD_BEEF_0000_0001, 0),
            (0.9, u64::MAX, u32::MAX),
            (0.0, 7, 1),
            (0.999, 1 << 40, 12_345),
        ];
        for shape in [vec![1], vec![7], vec![255], vec![257], vec![3, 3_337], vec![2, 5, 1_001]] {
            let masks = draws
                .iter()
                .map(|&(rate, seed, stream)| b.dropout_mask(&shape, rate, seed, stream).unwrap())
                .collect::<Vec<_>>();
            let got = b.read_many(&masks.iter().collect::<Vec<_>>()).await.unwrap();
            for (g, &(rate, seed, stream)) in got.iter().zip(&draws) {
                let want = host(&cpu.dropout_mask(&shape, rate, seed, stream).unwrap());
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(g),
                    bits(&want),
                    "dropout_mask {shape:?} rate {rate} seed {seed:#x} stream {stream}"
                );
            }
            assert_eq!(masks[0].shape(), &shape[..]);
        }
        let empty = b.dropout_mask(&[0, 3], 0.5, 1, 1).unwrap();
        assert!(read(b, &empty).await.is_empty());
        for rate in [-0.1, 1.0, 1.5, f32::NAN] {
            for r in [b.dropout_mask(&[4], rate, 1, 1), cpu.dropout_mask(&[4], rate, 1, 1)] {
                assert!(matches!(r, Err(Error::InvalidArgument { .. })), "rate {rate}");
            }
        }
    }

    async fn broadcast_row_dot_and_scale_rows_match_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        // (rows, k): single rows and columns, k around the 8-lane split of
        // row_dot, rows around a workgroup, one case over 10,000 elements,
        // and empty ones.
        for (s, &(n, k)) in [(1, 1), (3, 1), (1, 7), (17, 8), (33, 9), (255, 16), (257, 50), (300, 37), (0, 5), (4, 0)]
            .iter()
            .enumerate()
        {
            let s = s as u64;
            let (gv, cv) = both(b, &[1, k], &values(k, s));
            let (ga, ca) = both(b, &[n, k], &values(n * k, 10 + s));
            let (gx, cx) = both(b, &[n, k], &values(n * k, 20 + s));
            let (gs, cs) = both(b, &[n, 1], &values(n, 30 + s));
            let outs = [
                b.broadcast_rows(&gv, n).unwrap(),
                b.row_dot(&ga, &gx).unwrap(),
                b.scale_rows(&ga, &gs).unwrap(),
            ];
            let what = format!("[{n}, {k}]");
            assert_eq!(outs[0].shape(), &[n, k], "{what}");
            assert_eq!(outs[1].shape(), &[n, 1], "{what}");
            assert_eq!(outs[2].shape(), &[n, k], "{what}");
            let got = b.read_many(&outs.iter().collect::<Vec<_>>()).await.unwrap();
            assert_close(&format!("broadcast_rows {what}"), &got[0], &host(&cpu.broadcast_rows(&cv, n).unwrap()), 0.0);
            assert_close(&format!("row_dot {what}"), &got[1], &host(&cpu.row_dot(&ca, &cx).unwrap()), 1e-5);
            assert_close(&format!("scale_rows {what}"), &got[2], &host(&cpu.scale_rows(&ca, &cs).unwrap()), 1e-6);
        }
        // The same shape errors as the CPU.
        let (g23, c23) = both(b, &[2, 3], &values(6, 1));
        let (g32, c32) = both(b, &[3, 2], &values(6, 2));
        let (g6, c6) = both(b, &[6], &values(6, 3));
        let (g3, c3) = both(b, &[3], &values(3, 4));
        let shape_err = |r: Result<fedwasm::Tensor, Error>| matches!(r, Err(Error::Shape { .. }));
        assert!(shape_err(b.broadcast_rows(&g23, 4)) && shape_err(cpu.broadcast_rows(&c23, 4)));
        assert!(shape_err(b.broadcast_rows(&g6, 4)) && shape_err(cpu.broadcast_rows(&c6, 4)));
        assert!(shape_err(b.row_dot(&g23, &g32)) && shape_err(cpu.row_dot(&c23, &c32)));
        assert!(shape_err(b.row_dot(&g6, &g6)) && shape_err(cpu.row_dot(&c6, &c6)));
        assert!(shape_err(b.scale_rows(&g23, &g3)) && shape_err(cpu.scale_rows(&c23, &c3)));
        assert!(shape_err(b.scale_rows(&g6, &g6)) && shape_err(cpu.scale_rows(&c6, &c6)));
    }
}
