//! The element types the CPU backend computes in: `f32` for training and `f64`
//! for gradient checks. Every CPU kernel is written once, generic over [`Real`].

use crate::error::Result;
use crate::tensor::{Tensor, TensorData};

/// A float the CPU kernels can run on.
pub trait Real: fedwasm_protocol::optim::kernels::Float + std::iter::Sum {
    /// The host elements of `t`, if stored in this type.
    fn slice(t: &Tensor) -> Option<&[Self]>;
    /// Mutable host elements of `t`, if stored in this type.
    fn slice_mut(t: &mut Tensor) -> Option<&mut [Self]>;
    /// Wraps a vector (length already checked by the kernel) as a tensor.
    fn wrap(shape: &[usize], data: Vec<Self>) -> Result<Tensor>;
    /// `c = op(a) * op(b) + beta * c` with strides (`c` unread when `beta` is 0).
    ///
    /// # Safety
    /// The pointers and strides must describe valid `m x k`, `k x n`, `m x n` matrices.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Real for f32 {
    fn slice(t: &Tensor) -> Option<&[f32]> {
        t.as_f32()
    }
    fn slice_mut(t: &mut Tensor) -> Option<&mut [f32]> {
        match t.data_mut() {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(shape: &[usize], data: Vec<f32>) -> Result<Tensor> {
        Tensor::new(shape, data)
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // The wasm32 build has its own SIMD kernel (see `gemm`); natively
        // matrixmultiply picks AVX-512/AVX2/FMA kernels at run time.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        super::gemm::sgemm(m, k, n, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

impl Real for f64 {
    fn slice(t: &Tensor) -> Option<&[f64]> {
        t.as_f64()
    }
    fn slice_mut(t: &mut Tensor) -> Option<&mut [f64]> {
        match t.data_mut() {
            TensorData::F64(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(shape: &[usize], data: Vec<f64>) -> Result<Tensor> {
        Tensor::from_f64(shape, data)
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::dgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}
