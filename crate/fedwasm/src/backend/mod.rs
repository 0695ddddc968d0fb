//! The compute interface that layers, losses, metrics and optimizers run on.
//!
//! A [`Backend`] turns host data into [`Tensor`]s it owns, runs the operations
//! training needs on them, and reads results back **asynchronously**
//! ([`Backend::read`]): the CPU backend answers at once, a device backend
//! ([`webgpu::WebGpuBackend`]) maps a staging buffer. Callers never touch a
//! tensor's storage directly, so a new backend drops in without changing them.
//!
//! Shapes follow [`crate::tensor`]'s layout rules. Every operation checks its
//! operands' shapes and returns [`crate::Error::Shape`] naming itself on a mismatch.
//!
//! The backend is chosen at run time with [`select`]: see [`BackendChoice`].
//!
//! # Sparse embedding gradients
//! The gradient of an embedding table is nonzero only in the rows a batch
//! looked up, so it travels as a [`RowGradient`] (unique row ids on the host,
//! ascending, plus a `[rows, k]` backend tensor of summed values: see
//! [`crate::gradient`]) from [`Backend::gather_rows_backward`] to
//! [`Backend::optimizer_step_rows`], which touches only those rows. Neither
//! needs atomics on a device: embedding ids come from host batches, so a
//! device backend keeps the host copy of the id tensors it uploads, sorts and
//! groups them there ([`crate::gradient::RowSegments`]), and runs one thread
//! per (unique row, column), both to sum a row's contributions (in ascending
//! position order: deterministic) and to update it (rows are unique: no two
//! threads write one element).

pub mod cpu;
mod shape;
pub mod webgpu;

use std::future::Future;
use std::pin::Pin;

use crate::error::{Error, Result};
use crate::gradient::RowGradient;
use crate::optim::UpdateRule;
use crate::tensor::Tensor;

pub use cpu::CpuBackend;

/// Future returned by [`Backend::read`].
pub type ReadFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<f32>>> + 'a>>;

/// Future returned by [`Backend::read_many`].
pub type ReadManyFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>>> + 'a>>;

/// Which kind of backend a [`Backend`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// ndarray + matrixmultiply on the host.
    Cpu,
    /// WebGPU compute shaders.
    Webgpu,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Webgpu => "webgpu",
        })
    }
}

/// What a caller got: the backend kind and the adapter (device) behind it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackendInfo {
    /// The backend kind.
    pub kind: BackendKind,
    /// A human-readable adapter or device name (`"host"` for the CPU).
    pub adapter: String,
}

/// How to choose a backend at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The fastest available backend that supports the model.
    #[default]
    Auto,
    /// Exactly this backend, or an error if it is unavailable.
    Force(BackendKind),
}

impl BackendChoice {
    /// Reads `FEDWASM_BACKEND` (`cpu`, `webgpu`, `auto`; unset means auto).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_env() -> Result<Self> {
        match std::env::var("FEDWASM_BACKEND") {
            Err(_) => Ok(BackendChoice::Auto),
            Ok(v) => v.parse(),
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(BackendChoice::Auto),
            "cpu" => Ok(BackendChoice::Force(BackendKind::Cpu)),
            "webgpu" => Ok(BackendChoice::Force(BackendKind::Webgpu)),
            other => Err(Error::invalid(
                "BackendChoice::from_str",
                format!("unknown backend {other:?}; expected cpu, webgpu or auto"),
            )),
        }
    }
}

/// Whether `auto` takes this WebGPU backend: a real GPU, not a software
/// adapter (wgpu reports llvmpipe and SwiftShader as device type `Cpu`),
/// which is slower than the CPU backend on the same cores.
pub fn auto_accepts(b: &webgpu::WebGpuBackend) -> bool {
    b.context().adapter().device_type != "Cpu"
}

/// Picks a backend.
///
/// * `Force(Cpu)`: the CPU backend.
/// * `Force(Webgpu)`: a [`webgpu::WebGpuBackend`], or an error when there is
///   no adapter: never a silent fallback.
/// * `Auto`: WebGPU when an adapter exists and is a real GPU, else the CPU.
///   Software adapters (wgpu device type `Cpu`: Mesa's llvmpipe natively)
///   are passed over, since the CPU backend is faster than a GPU emulated on
///   the same cores; force `webgpu` to use one anyway. Browsers mark theirs
///   too (Chromium's SwiftShader fallback adapter is type `Cpu`).
///
/// Every operation of the built-in layers, losses, metrics and optimizers
/// has a WebGPU kernel, so the choice does not depend on the model.
///
/// # Errors
/// [`Error::BackendUnavailable`] when a forced backend cannot be had.
pub async fn select(choice: BackendChoice) -> Result<Box<dyn Backend>> {
    match choice {
        BackendChoice::Force(BackendKind::Cpu) => Ok(Box::new(CpuBackend::new())),
        BackendChoice::Force(BackendKind::Webgpu) => match webgpu::WebGpuBackend::new().await {
            Ok(b) => Ok(Box::new(b)),
            Err(e) => Err(Error::BackendUnavailable {
                backend: "webgpu".into(),
                reason: e.to_string(),
            }),
        },
        BackendChoice::Auto => match webgpu::WebGpuBackend::new().await {
            Ok(b) if auto_accepts(&b) => Ok(Box::new(b)),
            _ => Ok(Box::new(CpuBackend::new())),
        },
    }
}

/// Convolution padding, as in Keras.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: output is `input - kernel + 1`.
    Valid,
    /// Zero padding so the output has the input's size (stride 1).
    Same,
}

/// Result of a loss: the batch-mean loss (a one-element tensor) and its
/// gradient with respect to the loss input.
pub struct LossOutput {
    /// Mean loss over the batch, shape `[1]`.
    pub loss: Tensor,
    /// d(mean loss)/d(input), the input's shape.
    pub grad: Tensor,
}

/// Gradients of a 2-D convolution.
pub struct Conv2dGrads {
    /// d/dx, NHWC; `None` when not requested.
    pub dx: Option<Tensor>,
    /// d/dw, HWIO.
    pub dw: Tensor,
    /// d/db, `[out_channels]`.
    pub db: Tensor,
}

/// The operations training needs. See the module docs for conventions.
pub trait Backend {
    /// Which backend and adapter this is.
    fn info(&self) -> BackendInfo;

    // ---- moving data ----
    /// A backend tensor holding `data` (row-major) with `shape`.
    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor>;
    /// A backend tensor of zeros.
    fn zeros(&self, shape: &[usize]) -> Result<Tensor>;
    /// Reads a tensor back to the host as `f32`. Async: never block on it in wasm.
    fn read<'a>(&'a self, t: &'a Tensor) -> ReadFuture<'a>;
    /// Reads several tensors back, in order. A device backend does it with
    /// one submission and one mapping (the default reads one by one).
    fn read_many<'a>(&'a self, ts: &'a [&'a Tensor]) -> ReadManyFuture<'a> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(ts.len());
            for t in ts {
                out.push(self.read(t).await?);
            }
            Ok(out)
        })
    }

    // ---- linear algebra ----
    /// `op(a) * op(b)` where `op(x)` is `x` or `x^T` (`ta`, `tb`); `a`, `b` are 2-D.
    /// Shapes: `op(a)` is `[m, k]`, `op(b)` is `[k, n]`; the result is `[m, n]`.
    fn matmul(&self, a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor>;
    /// `x + bias` broadcast over all leading dimensions; `bias` is `[n]`, `x` is `[.., n]`.
    fn add_bias(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor>;
    /// Sum of `dy [.., n]` over all leading dimensions: `[n]` (the bias gradient).
    fn sum_leading(&self, dy: &Tensor) -> Result<Tensor>;

    // ---- elementwise ----
    /// `a + b`, equal shapes.
    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor>;
    /// `a * b` elementwise, equal shapes.
    fn mul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor>;
    /// `acc += x` in place, equal sizes.
    fn add_assign(&self, acc: &mut Tensor, x: &Tensor) -> Result<()>;
    /// `max(x, 0)`.
    fn relu(&self, x: &Tensor) -> Result<Tensor>;
    /// `dy` where `y > 0`, else 0 (`y` is the ReLU output).
    fn relu_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor>;
    /// Softmax over the last axis of `x [.., n]`.
    fn softmax(&self, x: &Tensor) -> Result<Tensor>;
    /// `dx = y * (dy - sum(dy * y))` along the last axis (`y` is the softmax output).
    fn softmax_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor>;
    /// Inverted-dropout mask of `shape`: `1 / (1 - rate)` where
    /// [`crate::rng::counter_uniform`]`(seed, stream, i) >= rate`, else 0.
    fn dropout_mask(&self, shape: &[usize], rate: f32, seed: u64, stream: u32) -> Result<Tensor>;

    // ---- convolution and pooling (NHWC, HWIO) ----
    /// 2-D convolution, stride 1: `x [n, h, w, c]`, `w [kh, kw, c, f]`, `b [f]`.
    fn conv2d(&self, x: &Tensor, w: &Tensor, b: &Tensor, padding: Padding) -> Result<Tensor>;
    /// Gradients of [`Backend::conv2d`] given `dy`; `dx` only when `need_dx`.
    fn conv2d_backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
        padding: Padding,
        need_dx: bool,
    ) -> Result<Conv2dGrads>;
    /// 2x2 max pooling, stride 2, floor ("valid"): `[n, h/2, w/2, c]`.
    fn max_pool2d(&self, x: &Tensor) -> Result<Tensor>;
    /// Routes `dy` to the first maximum of each 2x2 window of `x`.
    fn max_pool2d_backward(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor>;

    // ---- embeddings and products ----
    /// Rows `ids` of `table [v, k]`: `[n, k]` for `n = ids.len()` ids of any
    /// shape, read in row-major order. Ids must be whole numbers in `0..v`.
    fn gather_rows(&self, table: &Tensor, ids: &Tensor) -> Result<Tensor>;
    /// `out[ids[i]] += dy[i]`: the `[rows, k]` gradient of [`Backend::gather_rows`].
    /// `dy` is `[.., k]` with `ids.len()` rows (`[n, k]`, or `ids`' shape plus `k`).
    fn scatter_add_rows(&self, dy: &Tensor, ids: &Tensor, rows: usize) -> Result<Tensor>;
    /// The gradient of [`Backend::gather_rows`] as rows: for `dy [.., k]` (as in
    /// [`Backend::scatter_add_rows`]) and `n` ids looked up in a table of
    /// `rows` rows, the unique ids ascending
    /// and, for each, the sum of `dy[p]` over the positions `p` that looked it
    /// up, added in ascending `p` to zero (the same sums, bit for bit, as the
    /// rows of [`Backend::scatter_add_rows`]). `ids` must be known on the host
    /// (they come from host batches; see the module docs).
    fn gather_rows_backward(&self, dy: &Tensor, ids: &Tensor, rows: usize) -> Result<RowGradient>;
    /// Repeats the single row of `v [1, k]` `n` times: `[n, k]`.
    fn broadcast_rows(&self, v: &Tensor, n: usize) -> Result<Tensor>;
    /// Row-wise dot product of `a [n, k]` and `b [n, k]`: `[n, 1]`.
    fn row_dot(&self, a: &Tensor, b: &Tensor) -> Result<Tensor>;
    /// Each row `i` of `a [n, k]` times `s[i]` (`s` has `n` elements).
    fn scale_rows(&self, a: &Tensor, s: &Tensor) -> Result<Tensor>;

    // ---- losses (batch mean, as Keras' default reduction) ----
    /// Sparse categorical cross-entropy on probabilities `[n, c]` (clipped to
    /// `[1e-7, 1 - 1e-7]` like Keras) against class ids `[n]`.
    fn sparse_cross_entropy(&self, probs: &Tensor, labels: &Tensor) -> Result<LossOutput>;
    /// Softmax fused with cross-entropy on logits `[n, c]`: numerically stable.
    fn softmax_cross_entropy(&self, logits: &Tensor, labels: &Tensor) -> Result<LossOutput>;
    /// Mean squared error of `pred` against `target` (equal sizes).
    fn mean_squared_error(&self, pred: &Tensor, target: &Tensor) -> Result<LossOutput>;

    // ---- metric reductions (sums, shape [1]) ----
    /// Number of rows of `scores [n, c]` whose first arg-max equals `labels [n]`.
    fn count_correct(&self, scores: &Tensor, labels: &Tensor) -> Result<Tensor>;
    /// Number of elements with `|pred - target| <= tol`.
    fn count_within(&self, pred: &Tensor, target: &Tensor, tol: f32) -> Result<Tensor>;
    /// `sum((pred - target)^2)`.
    fn squared_error_sum(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor>;
    /// `count[0] +=` the number of elements of `x` that are finite (neither
    /// NaN nor infinite), in place and without allocating. Decided from the
    /// bits, so that no shader compiler's assumption of finite math can
    /// change the answer; meant for small `x` (one workgroup on a device).
    /// Training counts with it, on the device, the batches whose loss sum is
    /// still finite.
    fn add_count_finite(&self, count: &mut Tensor, x: &Tensor) -> Result<()>;

    // ---- optimizers ----
    /// One in-place update of `var` by `grad` under `rule` at 1-based `step`
    /// with learning rate `lr`; `slots` holds the rule's state tensors
    /// ([`UpdateRule::slot_inits`]), each shaped like `var`.
    fn optimizer_step(
        &self,
        rule: &UpdateRule,
        step: u64,
        lr: f32,
        var: &mut Tensor,
        grad: &Tensor,
        slots: &mut [Tensor],
    ) -> Result<()>;
    /// [`Backend::optimizer_step`] for a gradient that is zero outside
    /// `grad.rows()`: updates those rows of `var` and of each slot and leaves
    /// the rest untouched. Only for rules where that equals the dense update
    /// ([`UpdateRule::sparse_exact`]); others are an [`Error::Optimizer`]
    /// (the caller densifies with [`RowGradient::to_dense`]).
    fn optimizer_step_rows(
        &self,
        rule: &UpdateRule,
        step: u64,
        lr: f32,
        var: &mut Tensor,
        grad: &RowGradient,
        slots: &mut [Tensor],
    ) -> Result<()>;
}

/// Reads a tensor on any backend, blocking: native code and tests only.
///
/// # Errors
/// Whatever [`Backend::read`] reports.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_blocking(backend: &dyn Backend, t: &Tensor) -> Result<Vec<f32>> {
    pollster::block_on(backend.read(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_parses_and_cpu_is_always_there() {
        assert_eq!(
            "cpu".parse::<BackendChoice>().unwrap(),
            BackendChoice::Force(BackendKind::Cpu)
        );
        assert_eq!("".parse::<BackendChoice>().unwrap(), BackendChoice::Auto);
        assert!("cuda"
            .parse::<BackendChoice>()
            .unwrap_err()
            .to_string()
            .contains("cuda"));
        // Forcing the CPU completes at once: no executor needed.
        let mut fut = std::pin::pin!(select(BackendChoice::Force(BackendKind::Cpu)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let std::task::Poll::Ready(b) = fut.as_mut().poll(&mut cx) else {
            panic!("selecting the CPU backend is immediate")
        };
        assert_eq!(b.unwrap().info().kind, BackendKind::Cpu);
    }
}
