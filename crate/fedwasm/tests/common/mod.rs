//! Helpers shared by the integration tests (`mod common;` in each test file).
#![allow(dead_code)] // each test file uses some of them

pub mod gemm;

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Resolves a future that completes on its first poll, as every CPU-backend
/// future does. Works on both targets, unlike `pollster` (native only); it
/// never blocks, so it is safe in wasm.
pub fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("CPU backend futures complete at once"),
    }
}

/// `../shared/data/femnist-leaf` beside the clone: the FEMNIST subset the
/// native acceptance tests read (CI has `../shared` there). Panics, naming
/// the path, when it is missing.
#[cfg(not(target_arch = "wasm32"))]
pub fn shared_femnist() -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/femnist-leaf");
    assert!(
        dir.join("train").is_dir() && dir.join("test").is_dir(),
        "the shared FEMNIST data is missing at {}: these tests need ../shared beside the clone",
        dir.display()
    );
    dir
}

pub mod gpu;
