//! Dense tensors with explicit shapes.
//!
//! # Layout
//! A [`Tensor`] is a shape (`Vec<usize>`, outermost dimension first) and a flat
//! buffer in row-major (C) order: element `[i0, i1, .., ik]` of shape
//! `[d0, d1, .., dk]` sits at `((i0 * d1 + i1) * d2 + ..) * dk + ik`.
//! Images are NHWC (`[batch, height, width, channels]`); convolution kernels are
//! HWIO (`[height, width, in_channels, out_channels]`); dense kernels are
//! `[inputs, outputs]`, as in Keras. Integer data (class labels, embedding ids)
//! is carried as `f32` holding whole numbers below 2^24.
//!
//! The buffer lives wherever the backend that made it keeps data: on the host
//! in `f32` (training) or `f64` (the gradient checks of the CPU backend), or
//! on a WebGPU device ([`TensorData::Gpu`], same layout, `f32`). Read data
//! back through [`crate::backend::Backend::read`], which is async so device
//! backends fit the same call. The host accessors ([`Tensor::as_f32`],
//! [`Tensor::get`], ...) are for host tensors.

use crate::backend::webgpu::GpuBuffer;
use crate::error::{Error, Result};

/// Floating-point precision of a host tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats: what training runs in.
    F32,
    /// 64-bit floats: used by the CPU backend for gradient checks.
    F64,
}

/// Where and how a tensor's elements are stored.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TensorData {
    /// Host memory, 32-bit floats.
    F32(Vec<f32>),
    /// Host memory, 64-bit floats.
    F64(Vec<f64>),
    /// A WebGPU storage buffer of `f32`s (see [`crate::backend::webgpu`]).
    /// Cloning shares the buffer; the backend copies it before an in-place
    /// update of a shared one, so clones never alias.
    Gpu(GpuBuffer),
}

/// A shaped block of floats. See the module docs for the layout.
#[derive(Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Clone for Tensor {
    fn clone(&self) -> Self {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.clone(),
        }
    }

    /// Copies `source` into `self`, reusing `self`'s buffers when the
    /// precisions match (no allocation when the sizes do too).
    fn clone_from(&mut self, source: &Self) {
        self.shape.clone_from(&source.shape);
        match (&mut self.data, &source.data) {
            (TensorData::F32(d), TensorData::F32(s)) => d.clone_from(s),
            (TensorData::F64(d), TensorData::F64(s)) => d.clone_from(s),
            (d, s) => *d = s.clone(),
        }
    }
}

/// Number of elements of `shape` (1 for a scalar `[]`), saturating at
/// `usize::MAX` instead of wrapping, so an overflowing shape never matches
/// a real buffer. Exact for the shape of any existing [`Tensor`]; for a
/// shape from input use [`checked_numel`].
pub fn numel(shape: &[usize]) -> usize {
    if shape.contains(&0) {
        return 0;
    }
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .unwrap_or(usize::MAX)
}

/// Number of elements of `shape`, checked for overflow and against
/// [`Limits::max_tensor_elements`](crate::limits::Limits::max_tensor_elements)
/// (zero dimensions counted as one: see [`crate::limits::tensor_elements`]).
///
/// # Errors
/// [`Error::Limit`] naming `op` and the shape.
pub fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    crate::limits::tensor_elements(op, shape)
}

impl Tensor {
    /// A host `f32` tensor.
    ///
    /// # Errors
    /// [`Error::Limit`] when the shape overflows or exceeds
    /// [`Limits::max_tensor_elements`](crate::limits::Limits::max_tensor_elements)
    /// ([`checked_numel`]); [`Error::DataLength`] when `data.len()` is not
    /// the product of `shape`.
    pub fn new(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        Self::from_data(shape, TensorData::F32(data))
    }

    /// A host `f64` tensor.
    ///
    /// # Errors
    /// As [`Tensor::new`].
    pub fn from_f64(shape: &[usize], data: Vec<f64>) -> Result<Self> {
        Self::from_data(shape, TensorData::F64(data))
    }

    /// A tensor from any storage, checking the shape and the length.
    ///
    /// # Errors
    /// As [`Tensor::new`].
    pub fn from_data(shape: &[usize], data: TensorData) -> Result<Self> {
        let len = match &data {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::Gpu(g) => g.len(),
        };
        if len != checked_numel("Tensor::new", shape)? {
            return Err(Error::DataLength {
                op: "Tensor::new",
                shape: shape.to_vec(),
                len,
            });
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data,
        })
    }

    /// All zeros in the given precision.
    ///
    /// # Panics
    /// When `shape` overflows or its elements cannot be allocated; for a
    /// shape from input check it with [`checked_numel`] first (as
    /// [`crate::backend::Backend::zeros`] does).
    pub fn zeros(shape: &[usize], precision: Precision) -> Self {
        Self::full(shape, 0.0, precision)
    }

    /// Every element equal to `value`.
    ///
    /// # Panics
    /// As [`Tensor::zeros`].
    pub fn full(shape: &[usize], value: f64, precision: Precision) -> Self {
        let n = numel(shape);
        let data = match precision {
            Precision::F32 => TensorData::F32(vec![value as f32; n]),
            Precision::F64 => TensorData::F64(vec![value; n]),
        };
        Tensor {
            shape: shape.to_vec(),
            data,
        }
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        numel(&self.shape)
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The storage precision (device tensors are `f32`).
    pub fn precision(&self) -> Precision {
        match self.data {
            TensorData::F32(_) | TensorData::Gpu(_) => Precision::F32,
            TensorData::F64(_) => Precision::F64,
        }
    }

    /// True when the elements are in host memory (not on a device).
    pub fn is_host(&self) -> bool {
        !matches!(self.data, TensorData::Gpu(_))
    }

    /// The storage.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Mutable storage (host tensors only).
    pub fn data_mut(&mut self) -> &mut TensorData {
        &mut self.data
    }

    /// Host `f32` elements, if stored that way.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Host `f64` elements, if stored that way.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match &self.data {
            TensorData::F64(v) => Some(v),
            _ => None,
        }
    }

    /// Copy of the host elements as `f32` (converting from `f64` if needed).
    ///
    /// # Panics
    /// For a device tensor: read those through [`crate::backend::Backend::read`].
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.clone(),
            TensorData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            TensorData::Gpu(_) => panic!("{}", DEVICE_TENSOR),
        }
    }

    /// Copy of the host elements as `f64`.
    ///
    /// # Panics
    /// For a device tensor, as [`Tensor::to_f32_vec`].
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::Gpu(_) => panic!("{}", DEVICE_TENSOR),
        }
    }

    /// The same elements in another precision (host tensors; panics for a
    /// device tensor, as [`Tensor::to_f32_vec`]).
    pub fn to_precision(&self, precision: Precision) -> Tensor {
        let data = match precision {
            Precision::F32 => TensorData::F32(self.to_f32_vec()),
            Precision::F64 => TensorData::F64(self.to_f64_vec()),
        };
        Tensor {
            shape: self.shape.clone(),
            data,
        }
    }

    /// The same elements viewed with another shape of equal size.
    ///
    /// # Errors
    /// [`Error::Limit`] for a shape that overflows or exceeds the limit,
    /// [`Error::Shape`] for one of another size.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Tensor> {
        if checked_numel("reshape", shape)? != self.len() {
            return Err(Error::shape("reshape", &self.shape, shape));
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    /// Element `i` (flat index) as `f64`, for host tensors (panics for a
    /// device tensor, as [`Tensor::to_f32_vec`]).
    pub fn get(&self, i: usize) -> f64 {
        match &self.data {
            TensorData::F32(v) => v[i] as f64,
            TensorData::F64(v) => v[i],
            TensorData::Gpu(_) => panic!("{}", DEVICE_TENSOR),
        }
    }

    /// Set element `i` (flat index) of a host tensor (panics for a device
    /// tensor, as [`Tensor::to_f32_vec`]).
    pub fn set(&mut self, i: usize, value: f64) {
        match &mut self.data {
            TensorData::F32(v) => v[i] = value as f32,
            TensorData::F64(v) => v[i] = value,
            TensorData::Gpu(_) => panic!("{}", DEVICE_TENSOR),
        }
    }
}

const DEVICE_TENSOR: &str =
    "host accessor called on a WebGPU tensor: read it through Backend::read";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_length() {
        let err = Tensor::new(&[2, 3], vec![0.0; 5]).unwrap_err();
        assert!(err.to_string().contains("[2, 3]"), "{err}");
    }

    /// `[HALF, HALF]` has `usize::MAX + 1` elements: its product wraps to 0,
    /// the length of an empty buffer (`[1 << 32, 1 << 32]` natively).
    const HALF: usize = 1 << (usize::BITS / 2);

    #[test]
    fn overflowing_shapes_are_refused_not_wrapped() {
        for shape in [&[HALF, HALF][..], &[HALF, HALF, 0], &[0, HALF, HALF]] {
            let err = Tensor::new(shape, vec![]).unwrap_err();
            assert_eq!(err.code(), "limit", "{shape:?}");
            assert!(err.to_string().contains("max_tensor_elements"), "{err}");
            assert_eq!(Tensor::from_f64(shape, vec![]).unwrap_err().code(), "limit");
        }
        #[cfg(target_pointer_width = "64")]
        {
            let err = Tensor::new(&[1 << 32, 1 << 32], vec![]).unwrap_err();
            assert!(err.to_string().contains("overflow"), "{err}");
        }
        // Over the element limit without overflowing.
        let err = Tensor::new(&[1 << 20, 1 << 20], vec![]).unwrap_err();
        assert!(err.to_string().contains("max_tensor_elements"), "{err}");
        assert_eq!(numel(&[HALF, HALF]), usize::MAX);
        assert_eq!(numel(&[HALF, HALF, 0]), 0);
        let t = Tensor::new(&[2, 2], vec![0.0; 4]).unwrap();
        assert_eq!(t.reshape(&[HALF, HALF]).unwrap_err().code(), "limit");
    }

    #[test]
    fn clone_from_copies_across_sizes_and_precisions() {
        let a = Tensor::new(&[2], vec![1.0, 2.0]).unwrap();
        let mut b = Tensor::new(&[3], vec![0.0; 3]).unwrap();
        b.clone_from(&a);
        assert_eq!(b, a);
        let mut c = Tensor::from_f64(&[1], vec![5.0]).unwrap();
        c.clone_from(&a);
        assert_eq!(c, a);
    }

    #[test]
    fn reshape_keeps_elements() {
        let t = Tensor::new(&[2, 3], (0..6).map(|x| x as f32).collect()).unwrap();
        let r = t.clone().reshape(&[3, 2]).unwrap();
        assert_eq!(r.as_f32(), t.as_f32());
        assert!(t.reshape(&[4]).is_err());
    }
}
