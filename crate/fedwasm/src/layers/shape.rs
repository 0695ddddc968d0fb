//! Flatten and Reshape: metadata-only layers.

use super::{expect_inputs, Backward, Forward, Layer, Mode, ParamSpec, Want};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::tensor::{checked_numel, numel, Tensor};

/// Reshapes each example; `target: None` flattens.
pub struct Reshape {
    pub target: Option<Vec<usize>>,
}

impl Reshape {
    fn per_example(&self, input: &[usize]) -> Result<Vec<usize>> {
        const OP: &str = "reshape";
        let n = checked_numel(OP, input)?;
        match &self.target {
            None => Ok(vec![n]),
            Some(t) if checked_numel(OP, t)? == n => Ok(t.clone()),
            Some(t) => Err(Error::shape(
                OP,
                format!("an input with {} elements", numel(t)),
                input,
            )),
        }
    }
}

impl Layer for Reshape {
    fn params(&self, _inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        Ok(vec![])
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("reshape", inputs, 1)?;
        self.per_example(&inputs[0])
    }

    fn forward(
        &self,
        _b: &dyn Backend,
        _p: &[&Tensor],
        inputs: &[&Tensor],
        _m: Mode,
        _n: u32,
    ) -> Result<Forward> {
        let x = inputs[0];
        let batch = *x
            .shape()
            .first()
            .ok_or_else(|| Error::shape("reshape", "[batch, ..]", x.shape()))?;
        let mut shape = vec![batch];
        shape.extend(self.per_example(&x.shape()[1..])?);
        Ok(Forward::plain(x.clone().reshape(&shape)?))
    }

    fn backward(
        &self,
        _b: &dyn Backend,
        _p: &[&Tensor],
        inputs: &[&Tensor],
        _fwd: &Forward,
        dy: &Tensor,
        want: Want<'_>,
    ) -> Result<Backward> {
        let dx = if want.inputs[0] {
            Some(dy.clone().reshape(inputs[0].shape())?)
        } else {
            None
        };
        Ok(Backward {
            inputs: vec![dx],
            params: vec![],
        })
    }
}
