//! The model interface every algorithm trains through, for described
//! ([`crate::model::GraphModel`]) and hand-written models alike.
//!
//! Like TFF's `VariableModel` / `ReconstructionModel` (seed 000), a model owns
//! its variables, each in one of four groups: global or local (local variables
//! never leave the client) x trainable or non-trainable. A model without local
//! variables is a plain `VariableModel`.

pub use fedwasm_protocol::variables::{VariableGroup, VariableInfo};

use crate::backend::Backend;
use crate::data::{Batch, ElementSpec, LabelSpec};
use crate::error::{Error, Result};
use crate::gradient::Gradient;
use crate::layers::Mode;
use crate::metrics::MetricKind;
use crate::tensor::Tensor;

/// A batch on a backend: `x [b, ..input_shape]` and labels `y [b]`.
pub struct DeviceBatch {
    /// Features.
    pub x: Tensor,
    /// Class ids or real targets.
    pub y: Tensor,
}

impl DeviceBatch {
    /// Uploads a host batch to `b`.
    ///
    /// # Errors
    /// Whatever the backend reports.
    pub fn upload(b: &dyn Backend, batch: &Batch) -> Result<Self> {
        // Batches are host f32; borrow them rather than copy twice.
        let upload = |t: &Tensor| match t.as_f32() {
            Some(v) => b.upload(t.shape(), v),
            None if t.is_host() => b.upload(t.shape(), &t.to_f32_vec()),
            None => Err(device_batch("DeviceBatch::upload", t)),
        };
        Ok(DeviceBatch {
            x: upload(&batch.x)?,
            y: upload(&batch.y)?,
        })
    }

    /// Number of examples.
    pub fn size(&self) -> usize {
        self.y.len()
    }
}

/// What a forward pass returns (TFF's `BatchOutput`).
pub struct BatchOutput {
    /// Mean loss over the batch, `[1]`.
    pub loss: Tensor,
    /// Model outputs: class scores `[b, classes]` or predictions `[b, 1]`.
    pub predictions: Tensor,
    /// Examples in the batch.
    pub num_examples: usize,
}

/// The interface of a trainable model. Implement it directly for full control
/// (seed 002's custom `VariableModel`); [`crate::model::GraphModel`] implements
/// it from a JSON description.
pub trait Model {
    /// The model's name, for messages.
    fn name(&self) -> &str;
    /// What one example looks like (TFF's `input_spec`).
    fn input_spec(&self) -> &ElementSpec;
    /// Descriptions of the variables, in a fixed order.
    fn variables(&self) -> &[VariableInfo];
    /// Current variable values, in [`Model::variables`] order.
    fn values(&self) -> &[Tensor];
    /// Mutable variable values, in [`Model::variables`] order.
    fn values_mut(&mut self) -> &mut [Tensor];
    /// Metrics the model reports besides `loss`, `num_examples`, `num_batches`.
    fn metrics(&self) -> &[MetricKind];
    /// Forward pass: loss and predictions.
    fn forward(&self, b: &dyn Backend, batch: &DeviceBatch, mode: Mode) -> Result<BatchOutput>;
    /// Forward pass plus gradients of the mean loss for every variable `i`
    /// with `wrt[i]` (others `None`).
    fn forward_backward(
        &self,
        b: &dyn Backend,
        batch: &DeviceBatch,
        mode: Mode,
        wrt: &[bool],
    ) -> Result<(BatchOutput, Vec<Option<Tensor>>)>;
    /// [`Model::forward_backward`], with gradients that may be sparse: an
    /// embedding table's gradient may come as its touched rows
    /// ([`Gradient::Rows`]), which [`crate::optim::Optimizer::apply_gradients`]
    /// applies without densifying when the update rule allows it. Training
    /// ([`crate::train::train_local`]) calls this. The default wraps the dense
    /// tensors of [`Model::forward_backward`].
    ///
    /// # Errors
    /// As [`Model::forward_backward`].
    fn forward_backward_sparse(
        &self,
        b: &dyn Backend,
        batch: &DeviceBatch,
        mode: Mode,
        wrt: &[bool],
    ) -> Result<(BatchOutput, Vec<Option<Gradient>>)> {
        let (out, grads) = self.forward_backward(b, batch, mode, wrt)?;
        Ok((
            out,
            grads.into_iter().map(|g| g.map(Gradient::Dense)).collect(),
        ))
    }
    /// Re-initialises the variables in `groups` from `seed` (FedRecon resets
    /// local variables each round).
    fn reinitialize(&mut self, b: &dyn Backend, groups: &[VariableGroup], seed: u64) -> Result<()>;

    /// True when the model has no local variables (a plain `VariableModel`).
    fn has_only_global_variables(&self) -> bool {
        self.variables().iter().all(|v| v.group.is_global())
    }

    /// Total number of scalar parameters.
    fn num_parameters(&self) -> usize {
        self.variables()
            .iter()
            .map(|v| v.shape.iter().product::<usize>())
            .sum()
    }

    /// `wrt` mask selecting the variables of `group`.
    fn mask(&self, group: VariableGroup) -> Vec<bool> {
        self.variables().iter().map(|v| v.group == group).collect()
    }
}

/// The error for a batch tensor that is already on a device: batches come
/// from host datasets.
fn device_batch(op: &'static str, t: &Tensor) -> Error {
    Error::Storage {
        op,
        detail: format!(
            "a batch tensor of shape {:?} is on a WebGPU device; batches are host tensors",
            t.shape()
        ),
    }
}

/// Checks that a host batch matches an element spec (shape and labels).
///
/// # Errors
/// [`Error::Shape`] naming the expected and actual per-example shapes.
pub fn check_batch(model: &str, spec: &ElementSpec, batch: &Batch) -> Result<()> {
    for t in [&batch.x, &batch.y] {
        if !t.is_host() {
            return Err(device_batch("check_batch", t));
        }
    }
    let n = batch.y.len();
    if batch.x.shape().split_first() != Some((&n, spec.x_shape.as_slice())) {
        let mut expected = vec![n];
        expected.extend(&spec.x_shape);
        return Err(Error::Shape {
            op: "check_batch",
            expected: format!("x of shape {expected:?} for model {model}"),
            got: format!("{:?}", batch.x.shape()),
        });
    }
    if let LabelSpec::Class { num_classes } = spec.label {
        for (i, y) in batch.y.to_f32_vec().into_iter().enumerate() {
            if y.fract() != 0.0 || y < 0.0 || y as usize >= num_classes {
                return Err(Error::invalid(
                    "check_batch",
                    format!("label {y} of example {i} is not a class id in 0..{num_classes} (model {model})"),
                ));
            }
        }
    }
    Ok(())
}
