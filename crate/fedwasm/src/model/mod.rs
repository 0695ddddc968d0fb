//! Models: the [`Model`] interface, declarative descriptions ([`ModelSpec`]),
//! the graph model built from them, built-in tutorial models, and weights files.

mod api;
pub mod builtin;
mod graph;
mod io;
mod partition;
mod spec;
pub use fedwasm_protocol::weights;

pub use api::{check_batch, BatchOutput, DeviceBatch, Model, VariableGroup, VariableInfo};
pub use graph::GraphModel;
pub use io::{assign_weights, read_weights};
pub(crate) use io::{named, variables_where};
pub use spec::{LossSpec, ModelSpec, NodeSpec, PartitionSpec, INPUT};
pub use weights::*;
