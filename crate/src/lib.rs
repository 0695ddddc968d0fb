//! fedwasm: TensorFlow Federated's `tff.learning` for the browser.
#![deny(rustdoc::broken_intra_doc_links)]

pub mod backend;
pub mod bench;
pub mod checksum;
pub mod data;
pub mod error;
pub mod layers;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod reference;
pub mod rng;
pub mod tensor;
pub mod train;

// JavaScript bindings, only in the WebAssembly build.
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{Error, Result};
pub use tensor::{Precision, Tensor};
