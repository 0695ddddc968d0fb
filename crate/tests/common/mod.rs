//! Helpers shared by the integration tests (`mod common;` in each test file).

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
