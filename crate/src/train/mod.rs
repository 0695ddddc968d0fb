//! Local training on one client: epochs of minibatch updates with metrics
//! accumulated on the backend, evaluation, and seed 000's reconstruction
//! variant (local variables first, globals frozen; then globals, locals frozen).
//!
//! Everything here is `async` because the only read-back, the metrics at the
//! end, goes through [`Backend::read`]. Natively, drive it with
//! `pollster::block_on`; in wasm, await it.

mod reconstruction;

pub use reconstruction::{reconstruct_and_evaluate, reconstruct_and_train, ReconstructionConfig};

use crate::backend::Backend;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gradient::Gradient;
use crate::layers::Mode;
use crate::metrics::{MetricAccumulator, UnfinalizedMetrics};
use crate::model::{check_batch, DeviceBatch, Model, VariableGroup};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::tensor::Tensor;

/// Progress of a local training pass, reported after every batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Batches processed so far in this pass.
    pub batches: u64,
    /// Examples processed so far in this pass.
    pub examples: u64,
}

/// Options of a local training pass.
#[derive(Default)]
pub struct TrainOptions<'a> {
    /// Seed of the dropout masks.
    pub seed: u64,
    /// Step counter of the first batch (mixed into dropout streams, so that
    /// consecutive passes draw different masks).
    pub first_step: u32,
    /// Called after each batch.
    pub progress: Option<&'a mut dyn FnMut(Progress)>,
}

/// The variables of `model` in any of `groups` that are trainable, as a mask.
pub fn trainable_mask(model: &dyn Model, groups: &[VariableGroup]) -> Vec<bool> {
    model
        .variables()
        .iter()
        .map(|v| v.group.is_trainable() && groups.contains(&v.group))
        .collect()
}

/// An optimizer for the trainable variables of `model` in `groups`.
///
/// # Errors
/// As [`Optimizer::new`].
pub fn optimizer_for(
    b: &dyn Backend,
    model: &dyn Model,
    groups: &[VariableGroup],
    config: OptimizerConfig,
) -> Result<Optimizer> {
    let mask = trainable_mask(model, groups);
    let shapes: Vec<Vec<usize>> = model
        .variables()
        .iter()
        .zip(&mask)
        .filter(|(_, &m)| m)
        .map(|(v, _)| v.shape.clone())
        .collect();
    Optimizer::new(config, b, &shapes)
}

/// One pass over `data` (already batched; repeat it for several epochs),
/// updating the trainable variables of `groups` with `optimizer` after every
/// batch. Returns the pass's unfinalized metrics (TFF's client `train` metrics).
///
/// # Errors
/// A batch that does not match the model's input spec, a label out of range,
/// or an optimizer built for other variables.
pub async fn train_local(
    b: &dyn Backend,
    model: &mut dyn Model,
    optimizer: &mut Optimizer,
    data: &Dataset,
    groups: &[VariableGroup],
    opts: TrainOptions<'_>,
) -> Result<UnfinalizedMetrics> {
    let TrainOptions {
        seed,
        first_step,
        mut progress,
    } = opts;
    let wrt = trainable_mask(model, groups);
    let mut acc = MetricAccumulator::new(b, model.metrics())?;
    let mut step = first_step;
    let mut done = Progress {
        batches: 0,
        examples: 0,
    };
    for batch in data.batches()? {
        let batch = batch?;
        check_batch(model.name(), model.input_spec(), &batch)?;
        let db = DeviceBatch::upload(b, &batch)?;
        let (out, grads) =
            model.forward_backward_sparse(b, &db, Mode::training(seed, step), &wrt)?;
        acc.update(b, &out.loss, &out.predictions, &db.y)?;
        let grads: Vec<&Gradient> = grads
            .iter()
            .zip(&wrt)
            .filter(|(_, &w)| w)
            .map(|(g, _)| {
                g.as_ref().ok_or_else(|| Error::Model {
                    model: model.name().to_string(),
                    detail: "forward_backward returned no gradient for a requested variable".into(),
                })
            })
            .collect::<Result<_>>()?;
        let mut vars: Vec<&mut Tensor> = model
            .values_mut()
            .iter_mut()
            .zip(&wrt)
            .filter(|(_, &w)| w)
            .map(|(v, _)| v)
            .collect();
        optimizer.apply_gradients(b, &mut vars, &grads)?;
        step = step.wrapping_add(1);
        done.batches += 1;
        done.examples += batch.size() as u64;
        if let Some(p) = progress.as_mut() {
            p(done);
        }
    }
    acc.report(b).await
}

/// Metrics of `model` on `data` (batched) in inference mode (dropout off).
///
/// # Errors
/// As [`train_local`].
pub async fn evaluate(
    b: &dyn Backend,
    model: &dyn Model,
    data: &Dataset,
) -> Result<UnfinalizedMetrics> {
    let mut acc = MetricAccumulator::new(b, model.metrics())?;
    for batch in data.batches()? {
        let batch = batch?;
        check_batch(model.name(), model.input_spec(), &batch)?;
        let db = DeviceBatch::upload(b, &batch)?;
        let out = model.forward(b, &db, Mode::inference())?;
        acc.update(b, &out.loss, &out.predictions, &db.y)?;
    }
    acc.report(b).await
}
