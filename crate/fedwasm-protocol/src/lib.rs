//! fedwasm-protocol: what the server side of federated learning needs and
//! nothing more. The client engine (`fedwasm`) builds on it; an aggregator
//! builds on it alone, without wgpu, layers, kernels or training code.
//!
//! # Data layout
//! Every float that crosses between a client and the server is a
//! [`weights::NamedTensor`]: a name, a shape (outermost first) and
//! row-major `f32` data (`[in, out]` dense kernels, HWIO convolution
//! kernels, as the engine stores them). A model's global weights are
//! [`model_weights::ModelWeights`] (trainable, then non-trainable, in model
//! order); an update is `client - global` per global trainable variable;
//! metrics travel unfinalized ([`metrics::UnfinalizedMetrics`]: a name and a
//! short vector of `f64` sums). The binary encodings of every message are
//! specified byte by byte in [`encoding`].
//!
//! # Modules
//! * messages and their parts: [`messages`] ([`messages::ClientTask`],
//!   [`messages::ClientUpdate`], [`messages::ClientState`]), [`work`]
//!   (what a client does), [`plan`] (how it batches its data),
//!   [`variables`], [`weights`], [`model_weights`], [`metrics`];
//! * the server: [`server`] ([`server::ProcessSpec`],
//!   [`server::ServerRound`]), [`aggregation`] (exact, order-independent
//!   weighted mean), [`exact`] (the fixed-point sums), [`finalizer`] and
//!   [`optim`] (server optimizers on the host), [`state`] (the process
//!   state), [`round_metrics`], [`sampling`];
//! * shared: [`error`] (the one error type, with stable codes), [`limits`],
//!   [`checksum`], [`rng`];
//! * [`fuzz`]: the mutation fuzzer every decoder of untrusted bytes is run
//!   under (`fedwasm bench fuzz`).
#![deny(rustdoc::broken_intra_doc_links)]

pub mod aggregation;
pub mod checksum;
pub mod encoding;
pub mod error;
pub mod exact;
pub mod finalizer;
pub mod fuzz;
pub mod json;
pub mod limits;
pub mod messages;
pub mod metrics;
pub mod model_weights;
pub mod optim;
pub mod plan;
pub mod rng;
pub mod round_metrics;
pub mod sampling;
pub mod server;
pub mod state;
pub mod variables;
pub mod weights;
pub mod work;

pub use error::{Error, Result};
pub use limits::Limits;
