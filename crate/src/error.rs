//! The crate's one error type. Every variant names the operation that failed
//! and, where shapes are involved, the shapes it saw.

use std::path::PathBuf;

/// Result alias used throughout fedwasm.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in fedwasm, grouped by area.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- tensors and backends ----
    /// Two operands (or an operand and a declared shape) disagree.
    #[error("shape mismatch in {op}: expected {expected}, got {got}")]
    Shape {
        op: &'static str,
        expected: String,
        got: String,
    },
    /// A tensor's data length does not match the product of its shape.
    #[error("tensor data of length {len} does not fit shape {shape:?} ({op})")]
    DataLength {
        op: &'static str,
        shape: Vec<usize>,
        len: usize,
    },
    /// Operands live in different precisions or on different backends.
    #[error("incompatible tensor storage in {op}: {detail}")]
    Storage { op: &'static str, detail: String },
    /// A value is outside what the operation accepts (an index out of range, a bad rate).
    #[error("invalid argument to {op}: {detail}")]
    InvalidArgument { op: &'static str, detail: String },
    /// The requested backend is not available on this machine or build.
    #[error("backend {backend} unavailable: {reason}")]
    BackendUnavailable { backend: String, reason: String },

    // ---- WebGPU ----
    /// No WebGPU adapter (GPU, or a CPU driver such as Mesa's llvmpipe) could be had.
    #[error(
        "no WebGPU adapter: {detail} (natively wgpu needs a Vulkan driver: on Debian \
         `apt-get install mesa-vulkan-drivers` gives llvmpipe; in a browser, WebGPU must be enabled)"
    )]
    NoAdapter { detail: String },
    /// The GPU reported an error (validation, out of memory, internal, device
    /// lost, a failed buffer mapping) while running `op`.
    #[error("GPU error in {op}: {detail}")]
    Gpu { op: &'static str, detail: String },
    /// The GPU device was lost (destroyed, or reset by the driver or the
    /// browser) before or while running `op`; its buffers are gone. Rerun the
    /// work on another backend (federated rounds do: see [`crate::federated`]).
    #[error("GPU device lost in {op}: {detail}")]
    DeviceLost { op: &'static str, detail: String },

    // ---- models ----
    /// A model description is inconsistent (unknown layer type, a cycle, a missing input).
    #[error("invalid model {model}: {detail}")]
    Model { model: String, detail: String },
    /// A variable partition overlaps or leaves variables out (seed 000's rule).
    #[error("invalid variable partition of model {model}: {detail}")]
    Partition { model: String, detail: String },
    /// Weights do not match the model's variables.
    #[error("weights do not match model {model}: {detail}")]
    Weights { model: String, detail: String },

    // ---- data ----
    /// Bad input data, located as precisely as possible.
    #[error("bad data in {file}, record {record}, field {field}: {detail}")]
    Data {
        file: String,
        record: String,
        field: String,
        detail: String,
    },
    /// A dataset pipeline was built or used incorrectly.
    #[error("dataset error in {op}: {detail}")]
    Dataset { op: &'static str, detail: String },
    /// Reading or writing a file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // ---- (de)serialisation ----
    /// A JSON document (model description, weights, optimizer state) is malformed.
    #[error("cannot parse {what} as JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A binary weights file is malformed.
    #[error("corrupt binary {what}: {detail}")]
    Binary { what: String, detail: String },

    // ---- training ----
    /// An optimizer was misconfigured or given the wrong variables.
    #[error("optimizer {optimizer}: {detail}")]
    Optimizer { optimizer: String, detail: String },
    /// Training produced a non-finite value.
    #[error("non-finite value in {op}: {detail}")]
    NonFinite { op: &'static str, detail: String },

    // ---- federated processes ----
    /// A state does not fit the process it was given to (TFF's
    /// `TemplateStateNotAssignableError`): another model, algorithm or optimizer.
    #[error("{op}: state is not assignable to this process: {detail}")]
    StateNotAssignable { op: &'static str, detail: String },
    /// Model weights of the wrong structure (names, shapes or order).
    #[error("{op}: model weights have the wrong structure: expected {expected}, got {got}")]
    WeightsStructure {
        op: &'static str,
        expected: String,
        got: String,
    },
    /// A client's dataset does not produce what the model takes (TFF's
    /// `LearningProcessSequenceTypeError`).
    #[error("{op}: the dataset of client {client} yields {got}; the model expects {expected}")]
    ClientDataSpec {
        op: &'static str,
        client: usize,
        expected: String,
        got: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Shape`] with displayable shapes.
    pub fn shape(
        op: &'static str,
        expected: impl std::fmt::Debug,
        got: impl std::fmt::Debug,
    ) -> Self {
        Error::Shape {
            op,
            expected: format!("{expected:?}"),
            got: format!("{got:?}"),
        }
    }

    /// Shorthand for [`Error::Gpu`].
    pub fn gpu(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Gpu {
            op,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(op: &'static str, detail: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::Data`].
    pub fn data(
        file: impl Into<String>,
        record: impl Into<String>,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Error::Data {
            file: file.into(),
            record: record.into(),
            field: field.into(),
            detail: detail.into(),
        }
    }
}
