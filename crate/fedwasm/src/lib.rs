//! fedwasm: TensorFlow Federated's `tff.learning` for the browser.
//!
//! # Data layout
//! Everything numeric is a [`Tensor`]: a shape and a flat row-major buffer
//! (see [`tensor`] for the rules: NHWC images, HWIO convolution kernels,
//! `[in, out]` dense kernels, integer ids carried as whole-number `f32`).
//! A dataset element is `x` of a fixed per-example shape plus a label `y`
//! ([`data::ElementSpec`]); batches add a leading batch dimension.
//! Tensors belong to a [`backend::Backend`], which runs every operation and
//! reads results back asynchronously.
//!
//! # Example
//! ```
//! # fn main() -> fedwasm::Result<()> {
//! use fedwasm::backend::{select, BackendChoice};
//! use fedwasm::data::{femnist_digits, Dataset};
//! use fedwasm::metrics::MetricKind;
//! use fedwasm::model::{builtin, GraphModel, VariableGroup};
//! use fedwasm::optim::OptimizerConfig;
//! use fedwasm::train::{optimizer_for, train_local, TrainOptions};
//!
//! // WebGPU on a GPU, else the CPU (FEDWASM_BACKEND-style choice: see `select`).
//! let b = pollster::block_on(select(BackendChoice::Auto))?;
//! let (train, _test) = femnist_digits()?;
//! let mut model = GraphModel::new(builtin::softmax_regression(), b.as_ref(), 0)?;
//! let groups = [VariableGroup::GlobalTrainable];
//! let mut opt = optimizer_for(b.as_ref(), &model, &groups, OptimizerConfig::sgd(0.02))?;
//! let ds = Dataset::from_examples(train.merged()).shuffle(1000, 1).batch(20, false);
//! let metrics = pollster::block_on(train_local(
//!     b.as_ref(), &mut model, &mut opt, &ds, &groups, TrainOptions::default(),
//! ))?;
//! assert_eq!(metrics.value(MetricKind::NumExamples), Some(766.0));
//! println!("{:?}", metrics.finalize()?);
//! # Ok(())
//! # }
//! ```
#![deny(rustdoc::broken_intra_doc_links)]

pub mod backend;
pub mod bench;
pub use fedwasm_protocol::checksum;
pub mod data;
pub use fedwasm_protocol::{error, limits};
pub mod federated;
pub mod fuzz;
pub mod gradient;
pub mod layers;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod reference;
pub use fedwasm_protocol::rng;
pub mod tensor;
pub mod train;

// JavaScript bindings, only in the WebAssembly build.
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{Error, Result};
pub use tensor::{Precision, Tensor};
