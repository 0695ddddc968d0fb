//! Activations, used alone (`relu`, `softmax` layers) or fused into dense and
//! convolution layers.

use serde::{Deserialize, Serialize};

use super::{expect_inputs, Backward, Forward, Layer, Mode, ParamSpec, Want};
use crate::backend::Backend;
use crate::error::Result;
use crate::tensor::Tensor;

/// An elementwise or last-axis activation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// The identity.
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// Softmax over the last axis.
    Softmax,
}

impl Activation {
    /// `act(z)`.
    pub fn apply(self, b: &dyn Backend, z: Tensor) -> Result<Tensor> {
        match self {
            Activation::Linear => Ok(z),
            Activation::Relu => b.relu(&z),
            Activation::Softmax => b.softmax(&z),
        }
    }

    /// `d(loss)/dz` from the activation output `y` and `dy`.
    pub fn backward(self, b: &dyn Backend, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Linear => Ok(dy.clone()),
            Activation::Relu => b.relu_backward(y, dy),
            Activation::Softmax => b.softmax_backward(y, dy),
        }
    }
}

/// A layer that only applies an activation.
pub struct ActivationLayer(pub Activation);

impl Layer for ActivationLayer {
    fn params(&self, _inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        Ok(vec![])
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("activation", inputs, 1)?;
        Ok(inputs[0].clone())
    }

    fn forward(
        &self,
        b: &dyn Backend,
        _p: &[&Tensor],
        inputs: &[&Tensor],
        _m: Mode,
        _n: u32,
    ) -> Result<Forward> {
        Ok(Forward::plain(self.0.apply(b, inputs[0].clone())?))
    }

    fn backward(
        &self,
        b: &dyn Backend,
        _p: &[&Tensor],
        _inputs: &[&Tensor],
        fwd: &Forward,
        dy: &Tensor,
        want: Want<'_>,
    ) -> Result<Backward> {
        let dx = if want.inputs[0] {
            Some(self.0.backward(b, &fwd.output, dy)?)
        } else {
            None
        };
        Ok(Backward {
            inputs: vec![dx],
            params: vec![],
        })
    }
}
