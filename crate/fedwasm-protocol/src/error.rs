//! fedwasm's one error type, shared by every crate of the workspace (the
//! client engine re-exports it as `fedwasm::Error`). Every variant names the
//! operation that failed and, where shapes are involved, the shapes it saw;
//! [`Error::code`] gives each a stable short code that JavaScript sees as
//! `error.code`.

use std::path::PathBuf;

/// A float in a message, in shortest round-trip form as serde_json writes
/// it (`0.1`, `120.0`, `1e-7`; `NaN`, `inf`, `-inf`), without core's float
/// formatting, which is large in wasm (the aggregator's size budget).
#[derive(Clone, Copy, Debug)]
pub struct Float<T>(pub T);

impl std::fmt::Display for Float<f64> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        if x.is_nan() {
            f.write_str("NaN")
        } else if x.is_infinite() {
            f.write_str(if x > 0.0 { "inf" } else { "-inf" })
        } else {
            f.write_str(zmij::Buffer::new().format_finite(x))
        }
    }
}

impl std::fmt::Display for Float<f32> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        if x.is_finite() {
            f.write_str(zmij::Buffer::new().format_finite(x))
        } else {
            Float(f64::from(x)).fmt(f)
        }
    }
}

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
    /// work on another backend (federated rounds do: see `fedwasm::federated`).
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

    // ---- hosting: limits, cancellation, divergence ----
    /// A size read from input or computed from shapes is over a configured
    /// limit ([`crate::limits::Limits`]) or overflows: nothing was allocated.
    #[error(
        "{op}: {what} is {got}, over the limit of {limit} (raise Limits::{field} to allow it)"
    )]
    Limit {
        op: &'static str,
        /// What was measured (`"tensor elements of shape [..]"`, `"message bytes"`).
        what: String,
        /// The [`crate::limits::Limits`] field that bounds it.
        field: &'static str,
        /// The limit in force.
        limit: u64,
        /// The size asked for (`"overflow"` when it does not fit in 64 bits).
        got: String,
    },
    /// The host cancelled the work between two batches; the process state
    /// is unchanged.
    #[error("{op}: cancelled")]
    Cancelled { op: &'static str },
    /// Local training became non-finite (loss NaN or infinite).
    #[error("{op}: training diverged at epoch {epoch}, batch {batch}: {detail}")]
    Diverged {
        op: &'static str,
        /// 0-based epoch (pass over the client's data) of the first non-finite loss.
        epoch: u64,
        /// 0-based batch within that epoch.
        batch: u64,
        detail: String,
    },

    // ---- the client/server protocol ----
    /// The server refused a client's update (or a task, or a message)
    /// without changing anything: `reason` is a stable short word
    /// (`round_id`, `fingerprint`, `structure`, `non_finite`, `weight`,
    /// `metrics`, `duplicate`, `closed`, ..).
    #[error("{op} refused the {what}: {reason}: {detail}")]
    Refused {
        op: &'static str,
        /// What was refused (`"update of client 7"`, `"task"`).
        what: String,
        /// Why, as a stable short word.
        reason: &'static str,
        detail: String,
    },
}

impl Error {
    /// The stable short code of this error, for hosts (JavaScript sees it as
    /// `error.code`). Codes never change meaning; new ones may be added.
    ///
    /// | code | variants |
    /// |---|---|
    /// | `shape` | [`Error::Shape`], [`Error::DataLength`] |
    /// | `storage` | [`Error::Storage`] |
    /// | `invalid_argument` | [`Error::InvalidArgument`], [`Error::Optimizer`] |
    /// | `backend_unavailable` | [`Error::BackendUnavailable`], [`Error::NoAdapter`] |
    /// | `gpu` | [`Error::Gpu`] |
    /// | `device_lost` | [`Error::DeviceLost`] |
    /// | `model` | [`Error::Model`], [`Error::Partition`] |
    /// | `weights` | [`Error::Weights`], [`Error::WeightsStructure`] |
    /// | `bad_data` | [`Error::Data`], [`Error::Json`], [`Error::Binary`] |
    /// | `dataset` | [`Error::Dataset`], [`Error::ClientDataSpec`] |
    /// | `io` | [`Error::Io`] |
    /// | `non_finite` | [`Error::NonFinite`] |
    /// | `state_not_assignable` | [`Error::StateNotAssignable`] |
    /// | `limit` | [`Error::Limit`] |
    /// | `cancelled` | [`Error::Cancelled`] |
    /// | `diverged` | [`Error::Diverged`] |
    /// | `refused` | [`Error::Refused`] |
    pub fn code(&self) -> &'static str {
        match self {
            Error::Shape { .. } | Error::DataLength { .. } => "shape",
            Error::Storage { .. } => "storage",
            Error::InvalidArgument { .. } | Error::Optimizer { .. } => "invalid_argument",
            Error::BackendUnavailable { .. } | Error::NoAdapter { .. } => "backend_unavailable",
            Error::Gpu { .. } => "gpu",
            Error::DeviceLost { .. } => "device_lost",
            Error::Model { .. } | Error::Partition { .. } => "model",
            Error::Weights { .. } | Error::WeightsStructure { .. } => "weights",
            Error::Data { .. } | Error::Json { .. } | Error::Binary { .. } => "bad_data",
            Error::Dataset { .. } | Error::ClientDataSpec { .. } => "dataset",
            Error::Io { .. } => "io",
            Error::NonFinite { .. } => "non_finite",
            Error::StateNotAssignable { .. } => "state_not_assignable",
            Error::Limit { .. } => "limit",
            Error::Cancelled { .. } => "cancelled",
            Error::Diverged { .. } => "diverged",
            Error::Refused { .. } => "refused",
        }
    }

    /// Every code [`Error::code`] can return.
    pub const CODES: [&'static str; 17] = [
        "shape",
        "storage",
        "invalid_argument",
        "backend_unavailable",
        "gpu",
        "device_lost",
        "model",
        "weights",
        "bad_data",
        "dataset",
        "io",
        "non_finite",
        "state_not_assignable",
        "limit",
        "cancelled",
        "diverged",
        "refused",
    ];

    /// This error with `context` (where in the input: `"variable 3
    /// \"dense/kernel\""`, `"writer f0042_14"`) put before what it
    /// describes: the `what` of [`Error::Limit`], the `detail` of
    /// [`Error::Binary`], [`Error::Dataset`], [`Error::InvalidArgument`],
    /// [`Error::Model`] and [`Error::Weights`]. Other variants already say
    /// where, and are returned unchanged.
    pub fn in_context(self, context: impl std::fmt::Display) -> Self {
        let at = |s: String| format!("{context}: {s}");
        match self {
            Error::Limit {
                op,
                what,
                field,
                limit,
                got,
            } => Error::Limit {
                op,
                what: at(what),
                field,
                limit,
                got,
            },
            Error::Binary { what, detail } => Error::Binary {
                what,
                detail: at(detail),
            },
            Error::Dataset { op, detail } => Error::Dataset {
                op,
                detail: at(detail),
            },
            Error::InvalidArgument { op, detail } => Error::InvalidArgument {
                op,
                detail: at(detail),
            },
            Error::Model { model, detail } => Error::Model {
                model,
                detail: at(detail),
            },
            Error::Weights { model, detail } => Error::Weights {
                model,
                detail: at(detail),
            },
            other => other,
        }
    }

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
