//! The WebGPU backend's machinery (natively on llvmpipe and in headless
//! Chromium): backend selection, GPU errors and device loss as crate errors,
//! batched read-back; natively also `FEDWASM_BACKEND=webgpu` without an
//! adapter being an error.

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use fedwasm::backend::webgpu::WebGpuBackend;
use fedwasm::backend::{select, Backend, BackendChoice, BackendKind};
use fedwasm::Error;

async_tests! {
    selection_names_the_adapter_and_auto_skips_software_gpus => selection,
    a_lost_device_is_a_device_lost_error => device_loss,
    read_many_returns_each_tensor_in_order => read_many,
}

async fn selection() {
    let forced = select(BackendChoice::Force(BackendKind::Webgpu))
        .await
        .expect("forcing webgpu where an adapter exists");
    let info = forced.info();
    assert_eq!(info.kind, BackendKind::Webgpu);
    assert!(!info.adapter.is_empty(), "the adapter is named: {info:?}");
    let gpu = WebGpuBackend::new().await.unwrap();
    let software = gpu.context().adapter().device_type == "Cpu";
    let auto = select(BackendChoice::Auto).await.unwrap().info();
    let want = if software {
        BackendKind::Cpu
    } else {
        BackendKind::Webgpu
    };
    assert_eq!(auto.kind, want, "auto on {}", gpu.context().adapter());
}

async fn device_loss() {
    let b = WebGpuBackend::new().await.unwrap();
    let x = b.upload(&[3], &[1.0, -2.0, 3.0]).unwrap();
    assert_eq!(b.read(&b.relu(&x).unwrap()).await.unwrap(), [1.0, 0.0, 3.0]);
    b.simulate_device_loss_after(2);
    let mut failed = None;
    for _ in 0..5 {
        match b.relu(&x) {
            Ok(y) => {
                if let Err(e) = b.read(&y).await {
                    failed = Some(e);
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let e = failed.expect("operations fail once the device is lost");
    assert!(matches!(e, Error::DeviceLost { .. }), "{e}");
    assert!(b.context().is_lost());
    // And it stays lost: later operations fail at once.
    assert!(matches!(b.relu(&x), Err(Error::DeviceLost { .. })));
}

async fn read_many() {
    let b = WebGpuBackend::new().await.unwrap();
    let ts: Vec<_> = (0..5)
        .map(|i| b.upload(&[i + 1], &vec![i as f32; i + 1]).unwrap())
        .collect();
    let empty = b.zeros(&[0]).unwrap();
    let mut refs: Vec<_> = ts.iter().collect();
    refs.insert(2, &empty);
    let out = b.read_many(&refs).await.unwrap();
    assert_eq!(out.len(), 6);
    assert!(out[2].is_empty());
    for (i, v) in out.iter().filter(|v| !v.is_empty()).enumerate() {
        assert_eq!(v, &vec![i as f32; i + 1]);
    }
}
