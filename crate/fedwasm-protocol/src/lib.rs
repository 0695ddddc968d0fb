//! fedwasm-protocol: what the server side of federated learning needs and
//! nothing more: the error type, limits on untrusted sizes and checksums.
//! The client engine (`fedwasm`) builds on it; an aggregator builds on it
//! alone, without wgpu, layers, kernels or training code.
#![deny(rustdoc::broken_intra_doc_links)]

pub mod checksum;
pub mod error;
pub mod limits;

pub use error::{Error, Result};
pub use limits::Limits;
