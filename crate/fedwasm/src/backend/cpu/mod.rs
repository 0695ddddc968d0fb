//! The CPU backend: ndarray views and matrixmultiply GEMM on host memory,
//! single-threaded and deterministic.
//!
//! Kernels are written once, generic over [`Real`], and run in `f32` for
//! training or in `f64` ([`CpuBackend::f64`]) so the gradient checks can test
//! the very same layer code with central differences.

mod conv;
mod elementwise;
mod embed;
mod gemm;
mod linalg;
mod loss;
mod optim;
mod real;

pub(crate) use fedwasm_protocol::optim::kernels::bias_corrected;
pub(crate) use loss::PROB_EPS;
pub use real::Real;

use super::{Backend, BackendInfo, BackendKind, Conv2dGrads, LossOutput, Padding, ReadFuture};
pub(crate) use crate::backend::shape::{index, indices, same_shape};
use crate::error::{Error, Result};
use crate::gradient::RowGradient;
use crate::optim::UpdateRule;
use crate::tensor::{Precision, Tensor};

/// Host compute on ndarray; GEMM by matrixmultiply natively (and in f64),
/// by this crate's SIMD kernel for f32 in wasm32 (`gemm.rs`).
#[derive(Clone, Debug)]
pub struct CpuBackend {
    precision: Precision,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// The training backend: tensors in `f32`.
    pub fn new() -> Self {
        CpuBackend {
            precision: Precision::F32,
        }
    }

    /// The checking backend: every tensor it makes is `f64`.
    pub fn f64() -> Self {
        CpuBackend {
            precision: Precision::F64,
        }
    }

    /// The precision of the tensors this backend makes.
    pub fn precision(&self) -> Precision {
        self.precision
    }
}

/// Host elements of `t` as `T`, or a storage error naming `op`.
pub(crate) fn host<'a, T: Real>(t: &'a Tensor, op: &'static str) -> Result<&'a [T]> {
    T::slice(t).ok_or_else(|| storage_error(t, op, std::any::type_name::<T>()))
}

/// The [`Error::Storage`] for an operand that is not a host `T` tensor.
fn storage_error(t: &Tensor, op: &'static str, want: &str) -> Error {
    let is = if t.is_host() {
        format!("a host {:?} tensor", t.precision())
    } else {
        "on a WebGPU device (read it back, or use the WebGPU backend)".to_string()
    };
    Error::Storage {
        op,
        detail: format!(
            "operand of shape {:?} is {is}, expected host {want}",
            t.shape()
        ),
    }
}

/// Mutable host elements of `t` as `T`.
pub(crate) fn host_mut<'a, T: Real>(t: &'a mut Tensor, op: &'static str) -> Result<&'a mut [T]> {
    // Checked through the shared view first, so the error can name the shape
    // without copying it on every (successful) call.
    host::<T>(t, op)?;
    Ok(T::slice_mut(t).expect("the precision was just checked"))
}

/// Runs `$body` with `$T` bound to the element type of tensor `$t`.
macro_rules! dispatch {
    ($t:expr, $T:ident => $body:expr) => {
        match $t.precision() {
            Precision::F32 => {
                type $T = f32;
                $body
            }
            Precision::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

impl Backend for CpuBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Cpu,
            adapter: match self.precision {
                Precision::F32 if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) => {
                    "host (ndarray + wasm simd128 GEMM, f32)".into()
                }
                Precision::F32 => "host (ndarray + matrixmultiply, f32)".into(),
                Precision::F64 => "host (ndarray + matrixmultiply, f64)".into(),
            },
        }
    }

    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        // Shape first: no copy of data that does not fit it.
        if crate::tensor::checked_numel("cpu upload", shape)? != data.len() {
            return Err(Error::DataLength {
                op: "cpu upload",
                shape: shape.to_vec(),
                len: data.len(),
            });
        }
        let t = Tensor::new(shape, data.to_vec())?;
        Ok(match self.precision {
            Precision::F32 => t,
            Precision::F64 => t.to_precision(Precision::F64),
        })
    }

    fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        crate::tensor::checked_numel("cpu zeros", shape)?;
        Ok(Tensor::zeros(shape, self.precision))
    }

    fn read<'a>(&'a self, t: &'a Tensor) -> ReadFuture<'a> {
        let out = if t.is_host() {
            Ok(t.to_f32_vec())
        } else {
            Err(Error::Storage {
                op: "cpu read",
                detail: format!("a tensor of shape {:?} is on a WebGPU device", t.shape()),
            })
        };
        Box::pin(std::future::ready(out))
    }

    fn matmul(&self, a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
        dispatch!(a, T => linalg::matmul::<T>(a, b, ta, tb))
    }

    fn add_bias(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        dispatch!(x, T => linalg::add_bias::<T>(x, bias))
    }

    fn sum_leading(&self, dy: &Tensor) -> Result<Tensor> {
        dispatch!(dy, T => linalg::sum_leading::<T>(dy))
    }

    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        dispatch!(a, T => elementwise::zip_map::<T>("add", a, b, |x, y| x + y))
    }

    fn mul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        dispatch!(a, T => elementwise::zip_map::<T>("mul", a, b, |x, y| x * y))
    }

    fn add_assign(&self, acc: &mut Tensor, x: &Tensor) -> Result<()> {
        dispatch!(x, T => elementwise::add_assign::<T>(acc, x))
    }

    fn relu(&self, x: &Tensor) -> Result<Tensor> {
        dispatch!(x, T => elementwise::relu::<T>(x))
    }

    fn relu_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        dispatch!(y, T => elementwise::relu_backward::<T>(y, dy))
    }

    fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        dispatch!(x, T => elementwise::softmax::<T>(x))
    }

    fn softmax_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        dispatch!(y, T => elementwise::softmax_backward::<T>(y, dy))
    }

    fn dropout_mask(&self, shape: &[usize], rate: f32, seed: u64, stream: u32) -> Result<Tensor> {
        match self.precision {
            Precision::F32 => elementwise::dropout_mask::<f32>(shape, rate, seed, stream),
            Precision::F64 => elementwise::dropout_mask::<f64>(shape, rate, seed, stream),
        }
    }

    fn conv2d(&self, x: &Tensor, w: &Tensor, b: &Tensor, padding: Padding) -> Result<Tensor> {
        dispatch!(x, T => conv::conv2d::<T>(x, w, b, padding))
    }

    fn conv2d_backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
        padding: Padding,
        need_dx: bool,
    ) -> Result<Conv2dGrads> {
        dispatch!(x, T => conv::conv2d_backward::<T>(x, w, dy, padding, need_dx))
    }

    fn max_pool2d(&self, x: &Tensor) -> Result<Tensor> {
        dispatch!(x, T => conv::max_pool2d::<T>(x))
    }

    fn max_pool2d_backward(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        dispatch!(x, T => conv::max_pool2d_backward::<T>(x, dy))
    }

    fn gather_rows(&self, table: &Tensor, ids: &Tensor) -> Result<Tensor> {
        dispatch!(table, T => embed::gather_rows::<T>(table, ids))
    }

    fn scatter_add_rows(&self, dy: &Tensor, ids: &Tensor, rows: usize) -> Result<Tensor> {
        dispatch!(dy, T => embed::scatter_add_rows::<T>(dy, ids, rows))
    }

    fn gather_rows_backward(&self, dy: &Tensor, ids: &Tensor, rows: usize) -> Result<RowGradient> {
        dispatch!(dy, T => embed::gather_rows_backward::<T>(dy, ids, rows))
    }

    fn broadcast_rows(&self, v: &Tensor, n: usize) -> Result<Tensor> {
        dispatch!(v, T => embed::broadcast_rows::<T>(v, n))
    }

    fn row_dot(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        dispatch!(a, T => embed::row_dot::<T>(a, b))
    }

    fn scale_rows(&self, a: &Tensor, s: &Tensor) -> Result<Tensor> {
        dispatch!(a, T => embed::scale_rows::<T>(a, s))
    }

    fn sparse_cross_entropy(&self, probs: &Tensor, labels: &Tensor) -> Result<LossOutput> {
        dispatch!(probs, T => loss::sparse_cross_entropy::<T>(probs, labels))
    }

    fn softmax_cross_entropy(&self, logits: &Tensor, labels: &Tensor) -> Result<LossOutput> {
        dispatch!(logits, T => loss::softmax_cross_entropy::<T>(logits, labels))
    }

    fn mean_squared_error(&self, pred: &Tensor, target: &Tensor) -> Result<LossOutput> {
        dispatch!(pred, T => loss::mean_squared_error::<T>(pred, target))
    }

    fn count_correct(&self, scores: &Tensor, labels: &Tensor) -> Result<Tensor> {
        dispatch!(scores, T => loss::count_correct::<T>(scores, labels))
    }

    fn count_within(&self, pred: &Tensor, target: &Tensor, tol: f32) -> Result<Tensor> {
        dispatch!(pred, T => loss::count_within::<T>(pred, target, tol))
    }

    fn squared_error_sum(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
        dispatch!(pred, T => loss::squared_error_sum::<T>(pred, target))
    }

    fn add_count_finite(&self, count: &mut Tensor, x: &Tensor) -> Result<()> {
        dispatch!(x, T => loss::add_count_finite::<T>(count, x))
    }

    fn optimizer_step(
        &self,
        rule: &UpdateRule,
        step: u64,
        lr: f32,
        var: &mut Tensor,
        grad: &Tensor,
        slots: &mut [Tensor],
    ) -> Result<()> {
        dispatch!(grad, T => optim::step::<T>(rule, step, lr, var, grad, slots))
    }

    fn optimizer_step_rows(
        &self,
        rule: &UpdateRule,
        step: u64,
        lr: f32,
        var: &mut Tensor,
        grad: &RowGradient,
        slots: &mut [Tensor],
    ) -> Result<()> {
        dispatch!(var, T => optim::step_rows::<T>(rule, step, lr, var, grad, slots))
    }
}
