//! Embeddings and the dot product of seed 003's matrix-factorisation model.

use super::{expect_inputs, Backward, Forward, Initializer, Layer, Mode, ParamSpec, Want};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Table lookup: ids `[batch, ..]` to `[batch, .., output_dim]`.
pub struct Embedding {
    pub input_dim: usize,
    pub output_dim: usize,
    pub init: Initializer,
}

impl Layer for Embedding {
    fn params(&self, _inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        Ok(vec![ParamSpec {
            name: "embeddings",
            shape: vec![self.input_dim, self.output_dim],
            init: self.init.clone(),
        }])
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("embedding", inputs, 1)?;
        let mut s = inputs[0].clone();
        s.push(self.output_dim);
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
        let ids = inputs[0];
        let mut shape = Vec::with_capacity(ids.shape().len() + 1);
        shape.extend_from_slice(ids.shape());
        shape.push(self.output_dim);
        Ok(Forward::plain(b.gather_rows(p[0], ids)?.reshape(&shape)?))
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
        if !want.params {
            return Ok(Backward {
                inputs: vec![None],
                params: vec![],
            });
        }
        // Ids are not differentiable: no input gradient. The table's gradient
        // is nonzero only in the looked-up rows: keep it sparse. `dy` is
        // `[.., output_dim]` with one row per id.
        Ok(Backward {
            inputs: vec![None],
            params: vec![b
                .gather_rows_backward(dy, inputs[0], self.input_dim)?
                .into()],
        })
    }
}

/// A per-client `[1, units]` vector broadcast over the batch; ignores its input.
pub struct UserEmbedding {
    pub units: usize,
    pub init: Initializer,
}

impl Layer for UserEmbedding {
    fn params(&self, _inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        Ok(vec![ParamSpec {
            name: "embedding",
            shape: vec![1, self.units],
            init: self.init.clone(),
        }])
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("user_embedding", inputs, 1)?;
        Ok(vec![self.units])
    }

    fn forward(
        &self,
        b: &dyn Backend,
        p: &[&Tensor],
        inputs: &[&Tensor],
        _m: Mode,
        _n: u32,
    ) -> Result<Forward> {
        let batch = *inputs[0]
            .shape()
            .first()
            .ok_or_else(|| Error::shape("user_embedding", "[batch, ..]", inputs[0].shape()))?;
        Ok(Forward::plain(b.broadcast_rows(p[0], batch)?))
    }

    fn backward(
        &self,
        b: &dyn Backend,
        _p: &[&Tensor],
        _inputs: &[&Tensor],
        _fwd: &Forward,
        dy: &Tensor,
        want: Want<'_>,
    ) -> Result<Backward> {
        let params = if want.params {
            vec![b.sum_leading(dy)?.reshape(&[1, self.units])?.into()]
        } else {
            vec![]
        };
        Ok(Backward {
            inputs: vec![None],
            params,
        })
    }
}

/// Row-wise dot product of two `[batch, k]` inputs (Keras `Dot(axes=1)`).
pub struct Dot;

impl Layer for Dot {
    fn params(&self, _inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>> {
        Ok(vec![])
    }

    fn arity(&self) -> usize {
        2
    }

    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>> {
        expect_inputs("dot", inputs, 2)?;
        if inputs[0] != inputs[1] || inputs[0].len() != 1 {
            return Err(Error::shape("dot", "two inputs of equal shape [k]", inputs));
        }
        Ok(vec![1])
    }

    fn forward(
        &self,
        b: &dyn Backend,
        _p: &[&Tensor],
        inputs: &[&Tensor],
        _m: Mode,
        _n: u32,
    ) -> Result<Forward> {
        Ok(Forward::plain(b.row_dot(inputs[0], inputs[1])?))
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
        // d(a.b)/da = b and d(a.b)/db = a, each scaled by the row's dy.
        let da = if want.inputs[0] {
            Some(b.scale_rows(inputs[1], dy)?)
        } else {
            None
        };
        let db = if want.inputs[1] {
            Some(b.scale_rows(inputs[0], dy)?)
        } else {
            None
        };
        Ok(Backward {
            inputs: vec![da, db],
            params: vec![],
        })
    }
}
