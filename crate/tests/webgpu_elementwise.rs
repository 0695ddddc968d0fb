//! WebGPU elementwise kernels against the CPU backend, natively (llvmpipe)
//! and in headless Chromium. Sizes: 1, odd sizes around a workgroup (255,
//! 257), and one over 10,000 elements (several workgroups).

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
}
