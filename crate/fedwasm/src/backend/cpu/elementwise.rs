//! Elementwise kernels, softmax and dropout masks, on ndarray views.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};

use super::{host, host_mut, same_shape, Real};
use crate::backend::shape::{dropout_dims, last_axis_rows};
use crate::error::{Error, Result};
use crate::rng::counter_uniform;
use crate::tensor::Tensor;

/// `f(a, b)` elementwise over equal shapes.
pub fn zip_map<T: Real>(
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(T, T) -> T,
) -> Result<Tensor> {
    same_shape(op, a, b)?;
    let av = host::<T>(a, op)?;
    let bv = host::<T>(b, op)?;
    let out = av.iter().zip(bv).map(|(&x, &y)| f(x, y)).collect();
    T::wrap(a.shape(), out)
}

/// `acc += x` (equal element counts).
pub fn add_assign<T: Real>(acc: &mut Tensor, x: &Tensor) -> Result<()> {
    const OP: &str = "add_assign";
    if acc.len() != x.len() {
        return Err(Error::shape(OP, acc.shape(), x.shape()));
    }
    let xv = host::<T>(x, OP)?;
    let av = host_mut::<T>(acc, OP)?;
    for (a, &v) in av.iter_mut().zip(xv) {
        *a += v;
    }
    Ok(())
}

/// `max(x, 0)`.
pub fn relu<T: Real>(x: &Tensor) -> Result<Tensor> {
    let xv = host::<T>(x, "relu")?;
    T::wrap(
        x.shape(),
        // A comparison rather than `max`: the same result (NaN gives 0), but
        // `max` becomes a call to `fmaxf` in wasm.
        xv.iter()
            .map(|&v| if v > T::zero() { v } else { T::zero() })
            .collect(),
    )
}

/// `dy` where the ReLU output `y` is positive.
pub fn relu_backward<T: Real>(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    zip_map::<T>("relu_backward", y, dy, |y, d| {
        if y > T::zero() {
            d
        } else {
            T::zero()
        }
    })
}

/// Views `t` as `[rows, last]`.
fn rows_of<'a, T: Real>(op: &'static str, t: &'a Tensor) -> Result<ArrayView2<'a, T>> {
    let (rows, n) = last_axis_rows(op, t)?;
    ArrayView2::from_shape((rows, n), host::<T>(t, op)?)
        .map_err(|e| Error::invalid(op, e.to_string()))
}

/// Numerically stable softmax over the last axis.
pub fn softmax<T: Real>(x: &Tensor) -> Result<Tensor> {
    let xv = rows_of::<T>("softmax", x)?;
    let mut out = xv.to_owned();
    softmax_rows_in_place(out.view_mut());
    T::wrap(x.shape(), out.into_raw_vec_and_offset().0)
}

/// Replaces each row by its softmax.
pub fn softmax_rows_in_place<T: Real>(mut rows: ArrayViewMut2<'_, T>) {
    for mut row in rows.axis_iter_mut(Axis(0)) {
        let max = row.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum: T = row.iter().copied().sum();
        row.mapv_inplace(|v| v / sum);
    }
}

/// `dx = y * (dy - sum(dy * y))` row by row.
pub fn softmax_backward<T: Real>(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmax_backward";
    same_shape(OP, y, dy)?;
    let yv = rows_of::<T>(OP, y)?;
    let dv = rows_of::<T>(OP, dy)?;
    let mut out = dv.to_owned();
    Zip::from(out.rows_mut())
        .and(yv.rows())
        .for_each(|mut o, yr| {
            let s: T = o.iter().zip(yr.iter()).map(|(&d, &y)| d * y).sum();
            Zip::from(&mut o)
                .and(&yr)
                .for_each(|o, &y| *o = y * (*o - s));
        });
    T::wrap(y.shape(), out.into_raw_vec_and_offset().0)
}

/// Inverted-dropout mask from the counter-based RNG.
pub fn dropout_mask<T: Real>(shape: &[usize], rate: f32, seed: u64, stream: u32) -> Result<Tensor> {
    let (n, keep) = dropout_dims(shape, rate)?;
    let keep = T::c(keep);
    let out = (0..n as u32)
        .map(|i| {
            if counter_uniform(seed, stream, i) >= rate {
                keep
            } else {
                T::zero()
            }
        })
        .collect();
    T::wrap(shape, out)
}
