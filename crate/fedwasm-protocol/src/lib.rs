//! fedwasm-protocol: what the server side of federated learning needs and
//! nothing more. The client engine (`fedwasm`) builds on it; an aggregator
//! builds on it alone, without wgpu, layers, kernels or training code.
#![deny(rustdoc::broken_intra_doc_links)]

pub mod checksum;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod optim;
pub mod rng;
pub mod variables;
pub mod weights;

pub use error::{Error, Result};
pub use limits::Limits;
