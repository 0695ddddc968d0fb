//! Local training on one client: epochs of minibatch updates with metrics
//! accumulated on the backend, evaluation, and seed 000's reconstruction
//! variant (local variables first, globals frozen; then globals, locals frozen).
//!
//! Everything here is `async` because the only read-back, the metrics at the
//! end, goes through [`Backend::read`]. Natively, drive it with
//! `pollster::block_on`; in wasm, await it.

mod reconstruction;

pub use reconstruction::{reconstruct_and_evaluate, reconstruct_and_train, ReconstructionConfig};
pub(crate) use reconstruction::{reconstruct_and_evaluate_pass, reconstruct_and_train_pass};

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
    let mut parts = [GroupOptimizer { groups, optimizer }];
    train_local_multi(b, model, &mut parts, data, None, opts).await
}

/// An optimizer and the variable groups it updates (see [`train_local_multi`]).
pub struct GroupOptimizer<'o> {
    /// The groups whose trainable variables this optimizer updates.
    pub groups: &'o [VariableGroup],
    /// Built for exactly those variables ([`optimizer_for`] with `groups`).
    pub optimizer: &'o mut Optimizer,
}

/// FedProx's proximal term `mu / 2 * |w - anchor|^2`: its gradient
/// `mu * (w - anchor)` is added to the gradient of every trained variable.
pub struct Proximal<'a> {
    /// The proximal strength (>= 0).
    pub mu: f32,
    /// One tensor per model variable (in [`Model::variables`] order, on the
    /// training backend): the weights the client started from.
    pub anchor: &'a [Tensor],
}

/// [`train_local`] generalised: each batch computes one forward/backward pass
/// for the trainable variables of all `parts`, then each part's optimizer
/// updates its own variables (seed 003's stateful clients train global
/// variables with a client optimizer and local ones with a local optimizer).
/// With `proximal`, its gradient is added first (FedProx). The parts' groups
/// must not share a variable.
///
/// # Errors
/// As [`train_local`]; [`Error::Shape`] when the proximal anchor does not
/// match the model's variables.
pub async fn train_local_multi(
    b: &dyn Backend,
    model: &mut dyn Model,
    parts: &mut [GroupOptimizer<'_>],
    data: &Dataset,
    proximal: Option<Proximal<'_>>,
    opts: TrainOptions<'_>,
) -> Result<UnfinalizedMetrics> {
    train_pass(b, model, parts, data, proximal, opts)?
        .report(b)
        .await
}

/// The pass of [`train_local_multi`] without the read-back: every batch is
/// recorded on the backend (nothing waits for a device), and the metric sums
/// stay there in the returned accumulator, for the caller to read back with
/// whatever else it needs.
///
/// # Errors
/// As [`train_local_multi`].
pub(crate) fn train_pass(
    b: &dyn Backend,
    model: &mut dyn Model,
    parts: &mut [GroupOptimizer<'_>],
    data: &Dataset,
    proximal: Option<Proximal<'_>>,
    opts: TrainOptions<'_>,
) -> Result<MetricAccumulator> {
    let TrainOptions {
        seed,
        first_step,
        mut progress,
    } = opts;
    let masks: Vec<Vec<bool>> = parts
        .iter()
        .map(|p| trainable_mask(model, p.groups))
        .collect();
    let mut wrt = vec![false; model.variables().len()];
    for (i, w) in wrt.iter_mut().enumerate() {
        let owners = masks.iter().filter(|m| m[i]).count();
        if owners > 1 {
            return Err(Error::invalid(
                "train_local_multi",
                format!(
                    "variable {:?} is in the groups of {owners} optimizers; each variable needs at most one",
                    model.variables()[i].name
                ),
            ));
        }
        *w = owners == 1;
    }
    let prox = match proximal {
        None => None,
        Some(p) => Some(ProximalTerm::new(b, model, &wrt, p)?),
    };
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
        let (out, mut grads) =
            model.forward_backward_sparse(b, &db, Mode::training(seed, step), &wrt)?;
        acc.update(b, &out.loss, &out.predictions, &db.y)?;
        if let Some(prox) = &prox {
            prox.add_to(b, model.values(), &mut grads)?;
        }
        for (part, mask) in parts.iter_mut().zip(&masks) {
            let grads: Vec<&Gradient> = grads
                .iter()
                .zip(mask)
                .filter(|(_, &w)| w)
                .map(|(g, _)| {
                    g.as_ref().ok_or_else(|| Error::Model {
                        model: model.name().to_string(),
                        detail: "forward_backward returned no gradient for a requested variable"
                            .into(),
                    })
                })
                .collect::<Result<_>>()?;
            let mut vars: Vec<&mut Tensor> = model
                .values_mut()
                .iter_mut()
                .zip(mask)
                .filter(|(_, &w)| w)
                .map(|(v, _)| v)
                .collect();
            part.optimizer.apply_gradients(b, &mut vars, &grads)?;
        }
        step = step.wrapping_add(1);
        done.batches += 1;
        done.examples += batch.size() as u64;
        if let Some(p) = progress.as_mut() {
            p(done);
        }
    }
    Ok(acc)
}

/// The proximal term prepared on the backend: `mu` broadcast to each trained
/// variable's shape and the negated anchor, so each batch costs one
/// addition, one product and one more addition per variable.
struct ProximalTerm {
    /// Per model variable: `(mu, -anchor)` for trained variables.
    terms: Vec<Option<(Tensor, Tensor)>>,
}

impl ProximalTerm {
    fn new(b: &dyn Backend, model: &dyn Model, wrt: &[bool], p: Proximal<'_>) -> Result<Self> {
        const OP: &str = "train_local_multi (proximal term)";
        if !(p.mu.is_finite() && p.mu >= 0.0) {
            return Err(Error::invalid(
                OP,
                format!("mu must be finite and >= 0, got {}", p.mu),
            ));
        }
        if p.anchor.len() != model.variables().len() {
            return Err(Error::shape(
                OP,
                format!("{} anchor tensors", model.variables().len()),
                format!("{} anchor tensors", p.anchor.len()),
            ));
        }
        let mut terms = Vec::with_capacity(wrt.len());
        for ((info, anchor), &w) in model.variables().iter().zip(p.anchor).zip(wrt) {
            if !w {
                terms.push(None);
                continue;
            }
            if anchor.shape() != info.shape.as_slice() {
                return Err(Error::shape(OP, &info.shape, anchor.shape()));
            }
            let n = anchor.len();
            let minus_one = b.upload(&info.shape, &vec![-1.0; n])?;
            terms.push(Some((
                b.upload(&info.shape, &vec![p.mu; n])?,
                b.mul(anchor, &minus_one)?,
            )));
        }
        Ok(ProximalTerm { terms })
    }

    /// `grads[i] += mu * (values[i] - anchor[i])` for every trained variable.
    fn add_to(
        &self,
        b: &dyn Backend,
        values: &[Tensor],
        grads: &mut [Option<Gradient>],
    ) -> Result<()> {
        for ((term, value), grad) in self.terms.iter().zip(values).zip(grads) {
            let Some((mu, neg_anchor)) = term else {
                continue;
            };
            if let Some(g) = grad.take() {
                // The pull toward the anchor touches every row, so a sparse
                // gradient becomes dense here.
                let mut g = g.into_dense(b)?;
                let pull = b.mul(mu, &b.add(value, neg_anchor)?)?;
                b.add_assign(&mut g, &pull)?;
                *grad = Some(Gradient::Dense(g));
            }
        }
        Ok(())
    }
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
    evaluate_pass(b, model, data)?.report(b).await
}

/// [`evaluate`] without the read-back (see [`train_pass`]).
///
/// # Errors
/// As [`evaluate`].
pub(crate) fn evaluate_pass(
    b: &dyn Backend,
    model: &dyn Model,
    data: &Dataset,
) -> Result<MetricAccumulator> {
    let mut acc = MetricAccumulator::new(b, model.metrics())?;
    for batch in data.batches()? {
        let batch = batch?;
        check_batch(model.name(), model.input_spec(), &batch)?;
        let db = DeviceBatch::upload(b, &batch)?;
        let out = model.forward(b, &db, Mode::inference())?;
        acc.update(b, &out.loss, &out.predictions, &db.y)?;
    }
    Ok(acc)
}
