//! WebGPU convolution and max-pooling kernels against the CPU backend,
//! natively (llvmpipe) and in headless Chromium: "valid" and "same"
//! padding, 1x1, 3x3, 5x5 and non-square even kernels, odd image sizes,
//! 1, 3 and 17 channels, batch 1 and batches with over 10,000 output
//! elements, with and without the input gradient, batches run in chunks,
//! pooling ties and odd sizes, and the shape errors.

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use common::gpu::{assert_close, both, host, read, values};
use fedwasm::backend::webgpu::{
    set_conv_dispatch_rows, set_conv_method, set_conv_scratch_bytes, ConvMethod, WebGpuBackend,
};
use fedwasm::backend::{Backend, CpuBackend, Padding};
use fedwasm::Error;

/// One convolution: `x [n, h, w, c]`, kernel `[kh, kw, c, f]`.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    kh: usize,
    kw: usize,
    f: usize,
    padding: Padding,
}

const fn case(
    n: usize,
    (h, w, c): (usize, usize, usize),
    (kh, kw, f): (usize, usize, usize),
    padding: Padding,
) -> Case {
    Case {
        n,
        h,
        w,
        c,
        kh,
        kw,
        f,
        padding,
    }
}

use Padding::{Same, Valid};

/// Runs `k` forward and backward (with and without dx) on both backends,
/// the GPU with each of its methods, and compares every result.
async fn check_conv(b: &WebGpuBackend, k: Case, seed: u64) {
    for method in [ConvMethod::Implicit, ConvMethod::Im2col] {
        let before = set_conv_method(method);
        check_conv_with(b, k, seed, &format!("{method:?} {k:?}")).await;
        set_conv_method(before);
    }
}

async fn check_conv_with(b: &WebGpuBackend, k: Case, seed: u64, what: &str) {
    let cpu = CpuBackend::new();
    let xs = [k.n, k.h, k.w, k.c];
    let ws = [k.kh, k.kw, k.c, k.f];
    let (gx, cx) = both(b, &xs, &values(xs.iter().product(), seed));
    let (gw, cw) = both(b, &ws, &values(ws.iter().product(), seed + 1));
    let (gb, cb) = both(b, &[k.f], &values(k.f, seed + 2));
    let cy = cpu.conv2d(&cx, &cw, &cb, k.padding).unwrap();
    let gy = b.conv2d(&gx, &gw, &gb, k.padding).unwrap();
    assert_eq!(gy.shape(), cy.shape(), "{what}: output shape");
    let (gdy, cdy) = both(b, cy.shape(), &values(cy.len(), seed + 3));
    let cg = cpu
        .conv2d_backward(&cx, &cw, &cdy, k.padding, true)
        .unwrap();
    let gg = b.conv2d_backward(&gx, &gw, &gdy, k.padding, true).unwrap();
    let gn = b.conv2d_backward(&gx, &gw, &gdy, k.padding, false).unwrap();
    assert!(gn.dx.is_none(), "{what}: dx without need_dx");
    let gdx = gg.dx.as_ref().expect("dx with need_dx");
    assert_eq!(gdx.shape(), xs, "{what}: dx shape");
    assert_eq!(gg.dw.shape(), ws, "{what}: dw shape");
    assert_eq!(gg.db.shape(), [k.f], "{what}: db shape");
    let got = b
        .read_many(&[&gy, gdx, &gg.dw, &gg.db, &gn.dw, &gn.db])
        .await
        .unwrap();
    let tol = 1e-4;
    assert_close(&format!("conv2d {what}"), &got[0], &host(&cy), tol);
    let cdx = host(cg.dx.as_ref().unwrap());
    assert_close(&format!("dx {what}"), &got[1], &cdx, tol);
    assert_close(&format!("dw {what}"), &got[2], &host(&cg.dw), tol);
    assert_close(&format!("db {what}"), &got[3], &host(&cg.db), tol);
    assert_close(&format!("dw, no dx, {what}"), &got[4], &host(&cg.dw), tol);
    assert_close(&format!("db, no dx, {what}"), &got[5], &host(&cg.db), tol);
}

gpu_tests! {
    async fn conv_small_cases_match_the_cpu(b: &WebGpuBackend) {
        let cases = [
            // 1x1 kernels, one channel, batch 1, odd 5x7 images.
            case(1, (5, 7, 1), (1, 1, 4), Valid),
            case(1, (5, 7, 1), (1, 1, 4), Same),
            // 3x3, 3 channels.
            case(1, (5, 7, 3), (3, 3, 5), Valid),
            case(2, (5, 7, 3), (3, 3, 5), Same),
            // 5x5, 17 channels; "valid" leaves a 1x3 output.
            case(1, (5, 7, 17), (5, 5, 3), Valid),
            case(2, (5, 7, 17), (5, 5, 3), Same),
            // A kernel as large as the image, and one larger under "same".
            case(2, (3, 3, 2), (3, 3, 2), Valid),
            case(1, (2, 3, 1), (5, 5, 2), Same),
            // Non-square and even kernels ("same" pads one less on top/left).
            case(2, (6, 5, 2), (2, 4, 3), Same),
            case(1, (6, 5, 2), (4, 1, 3), Valid),
        ];
        for (s, k) in cases.into_iter().enumerate() {
            check_conv(b, k, 10 * s as u64).await;
        }
    }

    async fn conv_large_batches_match_the_cpu(b: &WebGpuBackend) {
        // Over 10,000 output elements (several GEMM tiles each way: 70
        // filters cross a 64-column tile), and a 17-channel 5x5 case whose
        // column matrix has 425 columns.
        check_conv(b, case(4, (13, 11, 3), (3, 3, 70), Same), 1).await;
        check_conv(b, case(3, (15, 14, 17), (5, 5, 8), Valid), 2).await;
        // Over 32 and over 64 input channels (the input gradient's blocks).
        check_conv(b, case(2, (7, 6, 70), (3, 3, 5), Same), 5).await;
        check_conv(b, case(1, (5, 4, 33), (3, 2, 4), Valid), 6).await;
        // cnn_dropout's layers at a small batch.
        check_conv(b, case(3, (28, 28, 1), (3, 3, 32), Valid), 3).await;
        check_conv(b, case(2, (26, 26, 32), (3, 3, 64), Valid), 4).await;
    }

    async fn conv_in_chunks_of_images_matches_the_cpu(b: &WebGpuBackend) {
        // Column matrices of 9 x 9 x 27 floats per image: a budget of two
        // images runs a batch of 5 in chunks of 2, 2 and 1 (im2col), and
        // the filter gradient in 2 splits (implicit GEMM; 1 split below).
        let per_image = 9 * 9 * 27 * 4;
        let before = set_conv_scratch_bytes(2 * per_image + 100);
        check_conv(b, case(5, (11, 11, 3), (3, 3, 6), Valid), 7).await;
        check_conv(b, case(5, (9, 9, 3), (3, 3, 6), Same), 8).await;
        // A budget below one image still runs, an image at a time.
        set_conv_scratch_bytes(1);
        check_conv(b, case(3, (9, 9, 3), (3, 3, 6), Same), 9).await;
        set_conv_scratch_bytes(before);
    }

    async fn conv_in_several_dispatches_matches_the_cpu(b: &WebGpuBackend) {
        // Dispatches of 128 output rows (the grid's limit, lowered): 429
        // rows forward and back in 4, 216 in 2 (over 32 channels: the
        // square input-gradient blocks).
        let before = set_conv_dispatch_rows(128);
        check_conv(b, case(3, (13, 11, 3), (3, 3, 6), Same), 11).await;
        check_conv(b, case(3, (9, 8, 40), (3, 3, 5), Same), 12).await;
        set_conv_dispatch_rows(before);
    }

    async fn conv_empty_batches_and_filters(b: &WebGpuBackend) {
        check_conv(b, case(0, (5, 5, 2), (3, 3, 4), Same), 1).await;
        check_conv(b, case(2, (5, 5, 2), (3, 3, 0), Valid), 2).await;
        check_conv(b, case(1, (4, 4, 0), (3, 3, 2), Same), 3).await;
    }

    async fn max_pool_matches_the_cpu_with_ties_and_odd_sizes(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        // (n, h, w, c): odd heights and widths drop the last row/column;
        // the last case has over 10,000 outputs.
        for (s, &(n, h, w, c)) in [(1, 2, 2, 1), (2, 5, 7, 3), (1, 3, 2, 17), (3, 1, 4, 2), (4, 41, 33, 32)]
            .iter()
            .enumerate()
        {
            let len = n * h * w * c;
            // Few distinct values: most windows hold ties.
            let xv: Vec<f32> = values(len, s as u64).iter().map(|v| (v * 2.0).round()).collect();
            let (gx, cx) = both(b, &[n, h, w, c], &xv);
            let cy = cpu.max_pool2d(&cx).unwrap();
            let gy = b.max_pool2d(&gx).unwrap();
            assert_eq!(gy.shape(), cy.shape());
            let (gdy, cdy) = both(b, cy.shape(), &values(cy.len(), 100 + s as u64));
            let gdx = b.max_pool2d_backward(&gx, &gdy).unwrap();
            assert_eq!(gdx.shape(), [n, h, w, c]);
            let got = b.read_many(&[&gy, &gdx]).await.unwrap();
            let what = format!("[{n}, {h}, {w}, {c}]");
            assert_close(&format!("max_pool2d {what}"), &got[0], &host(&cy), 0.0);
            let cdx = host(&cpu.max_pool2d_backward(&cx, &cdy).unwrap());
            assert_close(&format!("max_pool2d_backward {what}"), &got[1], &cdx, 0.0);
        }
        // All four equal: the top-left one takes the gradient.
        let (gx, _) = both(b, &[1, 2, 2, 2], &[3.0; 8]);
        let (gdy, _) = both(b, &[1, 1, 1, 2], &[5.0, 7.0]);
        let dx = read(b, &b.max_pool2d_backward(&gx, &gdy).unwrap()).await;
        assert_eq!(dx, [5.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    async fn shape_errors_match_the_cpu(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        let gt = |shape: &[usize]| both(b, shape, &values(shape.iter().product(), 1));
        let (x, cx) = gt(&[2, 5, 5, 3]);
        let (w, cw) = gt(&[3, 3, 3, 4]);
        let (bias, cbias) = gt(&[4]);
        let (dy, cdy) = gt(&[2, 3, 3, 4]);
        let conv_cases = [
            // x not 4-D, kernel not 4-D, channel mismatch, empty kernel,
            // a 3x3 kernel on a 2x5 image under "valid".
            (gt(&[5, 5, 3]), (w.clone(), cw.clone()), Valid),
            ((x.clone(), cx.clone()), gt(&[3, 3, 3]), Valid),
            ((x.clone(), cx.clone()), gt(&[3, 3, 2, 4]), Valid),
            ((x.clone(), cx.clone()), gt(&[0, 3, 3, 4]), Same),
            (gt(&[2, 2, 5, 3]), (w.clone(), cw.clone()), Valid),
        ];
        for (i, ((gx, cx), (gw, cw), pad)) in conv_cases.iter().enumerate() {
            let g = b.conv2d(gx, gw, &bias, *pad);
            let c = cpu.conv2d(cx, cw, &cbias, *pad);
            assert!(matches!(g, Err(Error::Shape { .. })), "conv2d case {i}: {:?}", g.err());
            assert_eq!(g.err().map(|e| e.to_string()), c.err().map(|e| e.to_string()));
            let g = b.conv2d_backward(gx, gw, &dy, *pad, true);
            let c = cpu.conv2d_backward(cx, cw, &cdy, *pad, true);
            assert!(matches!(g, Err(Error::Shape { .. })), "conv2d_backward case {i}");
            assert_eq!(g.err().map(|e| e.to_string()), c.err().map(|e| e.to_string()));
        }
        // A bias of the wrong length; dy of the wrong shape.
        let (bad_bias, cbad_bias) = gt(&[3]);
        let g = b.conv2d(&x, &w, &bad_bias, Valid).err().map(|e| e.to_string());
        let c = cpu.conv2d(&cx, &cw, &cbad_bias, Valid).err().map(|e| e.to_string());
        assert!(g.is_some());
        assert_eq!(g, c);
        let g = b.conv2d_backward(&x, &w, &dy, Same, false).err().map(|e| e.to_string());
        let c = cpu.conv2d_backward(&cx, &cw, &cdy, Same, false).err().map(|e| e.to_string());
        assert!(g.is_some());
        assert_eq!(g, c);
        // Pooling: x not 4-D; dy not the pooled shape.
        let (x3, cx3) = gt(&[4, 4, 2]);
        assert!(matches!(b.max_pool2d(&x3), Err(Error::Shape { .. })));
        assert!(matches!(cpu.max_pool2d(&cx3), Err(Error::Shape { .. })));
        let (pdy, cpdy) = gt(&[2, 3, 3, 3]);
        let g = b.max_pool2d_backward(&x, &pdy).err().map(|e| e.to_string());
        let c = cpu.max_pool2d_backward(&cx, &cpdy).err().map(|e| e.to_string());
        assert!(g.is_some());
        assert_eq!(g, c);
        // Host tensors are refused.
        assert!(matches!(b.conv2d(&cx, &w, &bias, Valid), Err(Error::Storage { .. })));
        assert!(matches!(b.conv2d_backward(&x, &w, &cdy, Valid, true), Err(Error::Storage { .. })));
        assert!(matches!(b.max_pool2d(&cx), Err(Error::Storage { .. })));
        let (_, host_dy) = gt(&[2, 2, 2, 3]);
        assert!(matches!(b.max_pool2d_backward(&x, &host_dy), Err(Error::Storage { .. })));
    }
}
