//! fedwasm: TensorFlow Federated's `tff.learning` for the browser.
#![deny(rustdoc::broken_intra_doc_links)]

pub mod backend;
pub mod data;
pub mod error;
pub mod layers;
pub mod metrics;
pub mod optim;
pub mod rng;
pub mod tensor;
// (modules that need the data module are enabled when it lands)

pub use error::{Error, Result};
pub use tensor::{Precision, Tensor};
