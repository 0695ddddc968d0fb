//! Helpers shared by the integration tests (`mod common;` in each test file).
#![allow(dead_code)] // each test file uses some of them

pub mod coop;
pub mod gemm;

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Resolves a CPU-backend future, which never waits for anything outside
/// itself. Natively it polls until done: the only `Pending`s are the
/// passes' yields, which wake themselves. In wasm a yield waits for the JS
/// event loop, which a synchronous test never gives back: there it resolves
/// futures that complete on their first poll (no yield: at most
/// `yield_every` batches, or yielding off), and a test that yields must be
/// `async` ([`cpu_tests!`]).
pub fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending if cfg!(target_arch = "wasm32") => panic!(
                "this CPU future yielded to the JS event loop: await it in an async test (cpu_tests!)"
            ),
            Poll::Pending => {}
        }
    }
}

/// Runs the `async fn name()`s listed as tests on both targets: `#[test]`
/// natively (driven by [`ready`]), `#[wasm_bindgen_test]` in wasm32, where
/// the passes' yields go to the JS event loop (which a synchronous test
/// never gives back). The tests are named `both::name`.
#[macro_export]
macro_rules! cpu_tests {
    ($($name:ident),* $(,)?) => {
        mod both {
            $(
                #[cfg(not(target_arch = "wasm32"))]
                #[test]
                fn $name() {
                    $crate::common::ready(super::$name())
                }

                #[cfg(target_arch = "wasm32")]
                #[wasm_bindgen_test::wasm_bindgen_test]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
    };
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
