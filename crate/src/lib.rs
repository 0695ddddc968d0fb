//! fedwasm: TensorFlow Federated's `tff.learning` for the browser.
#![deny(rustdoc::broken_intra_doc_links)]

pub mod backend;
pub mod error;
pub mod optim;
pub mod rng;
pub mod tensor;

// JavaScript bindings, only in the WebAssembly build.
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{Error, Result};
pub use tensor::{Precision, Tensor};
