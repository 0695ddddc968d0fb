//! Fully connected layer on the last axis.

use super::{
    as_matrix, expect_inputs, Activation, Backward, Forward, Initializer, Layer, Mode, ParamSpec,
    Want,
};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// `y = activation(x W + b)`; `x [.., in]`, `W [in, units]`, `b [units]`.
pub struct Dense {
    pub units: usize,
    pub activation: Activation,
    pub kernel_init: Initializer,
    /// `None` when the layer has no bias.
    pub bias_init: Option<Initializer>,
}

impl Layer for Dense {
    fn params(&self, inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        expect_inputs("dense", inputs, 1)?;
        let fan_in = *inputs[0]
            .last()
            .ok_or_else(|| Error::shape("dense", "an input of rank >= 1", &inputs[0]))?;
        let mut p = vec![ParamSpec {
            name: "kernel",
            shape: vec![fan_in, self.units],
            init: self.kernel_init.clone(),
        }];
        if let Some(init) = &self.bias_init {
            p.push(ParamSpec {
                name: "bias",
                shape: vec![self.units],
                init: init.clone(),
            });
        }
        Ok(p)
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("dense", inputs, 1)?;
        let mut s = inputs[0].clone();
        *s.last_mut()
            .ok_or_else(|| Error::shape("dense", "an input of rank >= 1", &inputs[0]))? =
            self.units;
        Ok(s)
    }

    fn forward(
        &self,
        b: &dyn Backend,
        p: &[&Tensor],
        inputs: &[&Tensor],
        _m: Mode,
        _n: u32,
    ) -> Result<Forward> {
        let x = inputs[0];
        let mut z = b.matmul(&as_matrix(x)?, p[0], false, false)?;
        if self.bias_init.is_some() {
            z = b.add_bias(&z, p[1])?;
        }
        let mut shape = x.shape().to_vec();
        *shape.last_mut().expect("rank checked at build") = self.units;
        Ok(Forward::plain(
            self.activation.apply(b, z)?.reshape(&shape)?,
        ))
    }

    fn backward(
        &self,
        b: &dyn Backend,
        p: &[&Tensor],
        inputs: &[&Tensor],
        fwd: &Forward,
        dy: &Tensor,
        want: Want<'_>,
    ) -> Result<Backward> {
        let y = as_matrix(&fwd.output)?;
        let dz = self.activation.backward(b, &y, &as_matrix(dy)?)?;
        let x = as_matrix(inputs[0])?;
        // dW = x^T dz; db = column sums of dz; dx = dz W^T.
        let mut params = vec![];
        if want.params {
            params.push(b.matmul(&x, &dz, true, false)?.into());
            if self.bias_init.is_some() {
                params.push(b.sum_leading(&dz)?.into());
            }
        }
        let dx = if want.inputs[0] {
            Some(
                b.matmul(&dz, p[0], false, true)?
                    .reshape(inputs[0].shape())?,
            )
        } else {
            None
        };
        Ok(Backward {
            inputs: vec![dx],
            params,
        })
    }
}
