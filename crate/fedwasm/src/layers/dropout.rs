//! Inverted dropout with counter-based, seeded masks.

use super::{expect_inputs, Backward, Forward, Layer, Mode, ParamSpec, Want};
use crate::backend::Backend;
use crate::error::Result;
use crate::tensor::Tensor;

/// Zeroes each element with probability `rate` in training and scales the
/// kept ones by `1 / (1 - rate)`; the identity in inference.
pub struct Dropout {
    pub rate: f32,
}

/// The random stream of dropout node `node` at training step `step`.
fn stream(step: u32, node: u32) -> u32 {
    step.wrapping_mul(0x0001_0001) ^ node.wrapping_mul(0x9E37_79B9)
}

impl Layer for Dropout {
    fn params(&self, _inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        Ok(vec![])
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("dropout", inputs, 1)?;
        Ok(inputs[0].clone())
    }

    fn forward(
        &self,
        b: &dyn Backend,
        _p: &[&Tensor],
        inputs: &[&Tensor],
        mode: Mode,
        node: u32,
    ) -> Result<Forward> {
        let x = inputs[0];
        if !mode.training || self.rate == 0.0 {
            return Ok(Forward::plain(x.clone()));
        }
        let mask = b.dropout_mask(x.shape(), self.rate, mode.seed, stream(mode.step, node))?;
        Ok(Forward {
            output: b.mul(x, &mask)?,
            saved: Some(mask),
        })
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
        let dx = match (&fwd.saved, want.inputs[0]) {
            (_, false) => None,
            (Some(mask), true) => Some(b.mul(dy, mask)?),
            (None, true) => Some(dy.clone()),
        };
        Ok(Backward {
            inputs: vec![dx],
            params: vec![],
        })
    }
}
