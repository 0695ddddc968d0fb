//! Convolution and pooling layers (NHWC).

use super::{
    expect_inputs, Activation, Backward, Forward, Initializer, Layer, Mode, ParamSpec, Want,
};
use crate::backend::{Backend, Padding};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

fn hwc(op: &'static str, s: &[usize]) -> Result<(usize, usize, usize)> {
    match *s {
        [h, w, c] => Ok((h, w, c)),
        _ => Err(Error::shape(
            op,
            "per-example input [height, width, channels]",
            s,
        )),
    }
}

/// Stride-1 2-D convolution with bias and an optional fused activation.
pub struct Conv2d {
    pub filters: usize,
    pub kernel: usize,
    pub padding: Padding,
    pub activation: Activation,
    pub kernel_init: Initializer,
    pub bias_init: Initializer,
}

impl Layer for Conv2d {
    fn params(&self, inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        expect_inputs("conv2d", inputs, 1)?;
        let (_, _, c) = hwc("conv2d", &inputs[0])?;
        Ok(vec![
            ParamSpec {
                name: "kernel",
                shape: vec![self.kernel, self.kernel, c, self.filters],
                init: self.kernel_init.clone(),
            },
            ParamSpec {
                name: "bias",
                shape: vec![self.filters],
                init: self.bias_init.clone(),
            },
        ])
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("conv2d", inputs, 1)?;
        let (h, w, _) = hwc("conv2d", &inputs[0])?;
        match self.padding {
            Padding::Same => Ok(vec![h, w, self.filters]),
            Padding::Valid if h >= self.kernel && w >= self.kernel => {
                Ok(vec![h - self.kernel + 1, w - self.kernel + 1, self.filters])
            }
            Padding::Valid => Err(Error::shape(
                "conv2d",
                format!("an input of at least {0}x{0}", self.kernel),
                &inputs[0],
            )),
        }
    }

    fn forward(
        &self,
        b: &dyn Backend,
        p: &[&Tensor],
        inputs: &[&Tensor],
        _m: Mode,
        _n: u32,
    ) -> Result<Forward> {
        let z = b.conv2d(inputs[0], p[0], p[1], self.padding)?;
        Ok(Forward::plain(self.activation.apply(b, z)?))
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
        let dz = self.activation.backward(b, &fwd.output, dy)?;
        if !want.params {
            // Only the input gradient: dx = conv2d_backward's dx, computed alone.
            let dx = if want.inputs[0] {
                b.conv2d_backward(inputs[0], p[0], &dz, self.padding, true)?
                    .dx
            } else {
                None
            };
            return Ok(Backward {
                inputs: vec![dx],
                params: vec![],
            });
        }
        let g = b.conv2d_backward(inputs[0], p[0], &dz, self.padding, want.inputs[0])?;
        Ok(Backward {
            inputs: vec![g.dx],
            params: vec![g.dw.into(), g.db.into()],
        })
    }
}

/// 2x2 max pooling with stride 2 (Keras `MaxPool2D(pool_size=(2, 2))`).
pub struct MaxPool2d;

impl Layer for MaxPool2d {
    fn params(&self, _inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        Ok(vec![])
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("max_pool2d", inputs, 1)?;
        let (h, w, c) = hwc("max_pool2d", &inputs[0])?;
        if h < 2 || w < 2 {
            return Err(Error::shape(
                "max_pool2d",
                "an input of at least 2x2",
                &inputs[0],
            ));
        }
        Ok(vec![h / 2, w / 2, c])
    }

    fn forward(
        &self,
        b: &dyn Backend,
        _p: &[&Tensor],
        inputs: &[&Tensor],
        _m: Mode,
        _n: u32,
    ) -> Result<Forward> {
        Ok(Forward::plain(b.max_pool2d(inputs[0])?))
    }

    fn backward(
        &self,
        b: &dyn Backend,
        _p: &[&Tensor],
        inputs: &[&Tensor],
        _fwd: &Forward,
        dy: &Tensor,
        want: Want<'_>,
    ) -> Result<Backward> {
        let dx = if want.inputs[0] {
            Some(b.max_pool2d_backward(inputs[0], dy)?)
        } else {
            None
        };
        Ok(Backward {
            inputs: vec![dx],
            params: vec![],
        })
    }
}
