//! Local training on one client: epochs of minibatch updates with metrics
//! accumulated on the backend, evaluation, and seed 000's reconstruction
//! variant (local variables first, globals frozen; then globals, locals frozen).
//!
//! Everything here is `async`: the only read-back, the metrics at the end,
//! goes through [`Backend::read`], and every pass yields to the host between
//! batches ([`Controls`], [`control`]). Natively, drive it with
//! `pollster::block_on`; in wasm, await it.
//!
//! # Epochs, batches and divergence
//! A pass goes once over its dataset: one call of [`train_local`] is one
//! epoch, and a caller running several sets [`TrainOptions::epoch`] (0-based)
//! for each. A dataset that repeats itself (`repeat`) is one pass: its batch
//! index then runs on across the repeats. When the pass's loss stops being
//! finite (a NaN or infinite batch loss, or a loss sum past the `f32` range:
//! whatever would make the `loss` metric non-finite), [`train_local`]
//! returns [`Error::Diverged`] naming that epoch and the 0-based batch of the
//! pass ([`Divergence::Fail`], the default). On the CPU backend the pass
//! stops at that batch. On WebGPU the batches after which the loss sum is
//! still finite are counted on the device (one small dispatch a batch into
//! one `[1]` tensor: memory stays flat) and the count is read with the final
//! metrics, the pass's one read-back; so the pass runs to its end before it
//! names the batch.

pub mod control;
mod reconstruction;
mod yield_point;

pub(crate) use control::Pacer;
pub use control::{
    CancelToken, Controls, Divergence, Phase, Progress, DEFAULT_YIELD_EVERY, MIN_YIELD_GAP_MS,
};
pub use reconstruction::{
    reconstruct_and_evaluate, reconstruct_and_evaluate_with, reconstruct_and_train,
    reconstruct_and_train_with, ReconstructionConfig,
};
pub(crate) use reconstruction::{reconstruct_and_evaluate_pass, reconstruct_and_train_pass};
pub(crate) use yield_point::yield_now;

use crate::backend::Backend;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gradient::Gradient;
use crate::layers::Mode;
use crate::metrics::{MetricAccumulator, UnfinalizedMetrics};
use crate::model::{check_batch, DeviceBatch, Model, VariableGroup};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::tensor::Tensor;

/// Options of a local training pass. The default: seed 0, step 0, epoch 0,
/// [`Divergence::Fail`], no progress callback, a yield every
/// [`DEFAULT_YIELD_EVERY`] batches, no cancellation.
pub struct TrainOptions<'a> {
    /// Seed of the dropout masks.
    pub seed: u64,
    /// Step counter of the first batch (mixed into dropout streams, so that
    /// consecutive passes draw different masks).
    pub first_step: u32,
    /// The 0-based epoch this pass is, as [`Error::Diverged`] names it (see
    /// the module docs).
    pub epoch: u64,
    /// What a non-finite batch loss does.
    pub divergence: Divergence,
    /// Called after each batch.
    pub progress: Option<&'a mut dyn FnMut(Progress)>,
    /// Yields to the host every this many batches (0: never); see [`Controls`].
    pub yield_every: u32,
    /// Cancels the pass between batches ([`Error::Cancelled`]).
    pub cancel: Option<CancelToken>,
}

impl Default for TrainOptions<'_> {
    fn default() -> Self {
        TrainOptions {
            seed: 0,
            first_step: 0,
            epoch: 0,
            divergence: Divergence::Fail,
            progress: None,
            yield_every: DEFAULT_YIELD_EVERY,
            cancel: None,
        }
    }
}

impl<'a> TrainOptions<'a> {
    /// The pass's settings and its host controls, apart.
    pub(crate) fn split(self) -> (PassSettings, Controls<'a>) {
        (
            PassSettings {
                seed: self.seed,
                first_step: self.first_step,
                epoch: self.epoch,
                divergence: self.divergence,
                phase: Phase::Train,
            },
            Controls {
                yield_every: self.yield_every,
                min_yield_gap_ms: MIN_YIELD_GAP_MS,
                progress: self.progress,
                cancel: self.cancel,
            },
        )
    }
}

/// What a training pass needs besides the model, data and host controls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PassSettings {
    pub seed: u64,
    pub first_step: u32,
    pub epoch: u64,
    pub divergence: Divergence,
    /// [`Phase::Train`], or [`Phase::Reconstruct`] for reconstruction's first phase.
    pub phase: Phase,
}

impl PassSettings {
    /// Federated client work: seeded, never failing on divergence (TFF
    /// zeroes the client's non-finite update instead).
    pub(crate) fn client(seed: u64) -> Self {
        PassSettings {
            seed,
            first_step: 0,
            epoch: 0,
            divergence: Divergence::Continue,
            phase: Phase::Train,
        }
    }
}

/// A recorded pass: its metric sums and, under [`Divergence::Fail`] on a
/// device backend, the count of batches whose loss sum stayed finite, all
/// still on the backend. Read them with [`PassOutput::tensors`] and
/// [`PassOutput::metrics_from`] (or [`PassOutput::report`]), together with
/// whatever else the caller reads.
pub(crate) struct PassOutput {
    pub acc: MetricAccumulator,
    /// One per phase, in the order trained.
    watches: Vec<LossWatch>,
}

impl PassOutput {
    fn new(acc: MetricAccumulator, watch: LossWatch) -> Self {
        PassOutput {
            acc,
            watches: vec![watch],
        }
    }

    fn counters(&self) -> impl Iterator<Item = &Tensor> {
        self.watches
            .iter()
            .filter_map(|w| w.device.as_ref().map(|d| &d.finite))
    }

    /// The device tensors [`PassOutput::metrics_from`] needs, in order.
    pub(crate) fn tensors(&self) -> Vec<&Tensor> {
        let mut out = self.acc.sum_tensors();
        out.extend(self.counters());
        out
    }

    /// The pass's unfinalized metrics from the values of
    /// [`PassOutput::tensors`].
    ///
    /// # Errors
    /// [`Error::Diverged`] for a watched loss that stopped being finite;
    /// [`Error::InvalidArgument`] when `values` do not match.
    pub(crate) fn metrics_from(&self, values: &[Vec<f32>]) -> Result<UnfinalizedMetrics> {
        let sums = self.acc.sum_tensors().len();
        let want = sums + self.counters().count();
        if values.len() != want {
            return Err(Error::invalid(
                "PassOutput::metrics_from",
                format!("expected {want} values, got {}", values.len()),
            ));
        }
        let mut counts = values[sums..].iter();
        for w in &self.watches {
            if w.device.is_some() {
                let finite = counts.next().and_then(|v| v.first()).copied();
                w.check_device(finite.unwrap_or(0.0))?;
            }
        }
        self.acc.report_from(&values[..sums])
    }

    /// Reads everything back (once) and reports the metrics.
    ///
    /// # Errors
    /// As [`PassOutput::metrics_from`] and [`Backend::read`].
    pub(crate) async fn report(&self, b: &dyn Backend) -> Result<UnfinalizedMetrics> {
        let values = b.read_many(&self.tensors()).await?;
        self.metrics_from(&values)
    }

    /// The watches alone (a phase whose metrics are not reported).
    fn into_watches(self) -> Vec<LossWatch> {
        self.watches
    }

    /// Adds the watches of earlier phases (they come first).
    fn after(mut self, mut earlier: Vec<LossWatch>) -> Self {
        earlier.append(&mut self.watches);
        self.watches = earlier;
        self
    }
}

/// Finds the first batch after which a phase's loss sum (batch mean loss x
/// batch size, summed in `f32` as the `loss` metric sums it) is not finite:
/// a NaN or infinite batch loss, or a sum past `f32::MAX`. Host losses are
/// added up here as they come (the same two roundings as the accumulator);
/// on a device, the batches after which the accumulator's sum is still
/// finite are counted there, in one `[1]` tensor read with the metrics (a
/// non-finite sum stays non-finite, so that count is the first bad batch).
pub(crate) struct LossWatch {
    op: &'static str,
    epoch: u64,
    phase: Phase,
    sum: f32,
    device: Option<DeviceWatch>,
}

/// The device side of a [`LossWatch`].
struct DeviceWatch {
    /// Batches whose running loss sum was finite, `[1]`.
    finite: Tensor,
    /// 0-based batch (of the pass) of the phase's first batch.
    first: u64,
    /// Batches counted.
    batches: u64,
}

impl LossWatch {
    fn new(op: &'static str, epoch: u64, phase: Phase) -> Self {
        LossWatch {
            op,
            epoch,
            phase,
            sum: 0.0,
            device: None,
        }
    }

    fn diverged(&self, batch: u64, what: String) -> Error {
        let phase = match self.phase {
            Phase::Reconstruct => " in the reconstruction phase",
            Phase::Train | Phase::Evaluate => "",
        };
        Error::Diverged {
            op: self.op,
            epoch: self.epoch,
            batch,
            detail: format!("{what}{phase}; try a smaller learning rate"),
        }
    }

    /// Adds batch `batch`'s mean loss over `examples` examples (host).
    ///
    /// # Errors
    /// [`Error::Diverged`] once the sum is not finite.
    fn add(&mut self, batch: u64, examples: usize, loss: f32) -> Result<()> {
        // Two roundings, as the accumulator's `mul` then `add_assign`.
        let weighted = loss * examples as f32;
        self.sum += weighted;
        if self.sum.is_finite() {
            return Ok(());
        }
        let what = if loss.is_finite() {
            format!("the loss sum passed the f32 range (batch mean loss {loss:e})")
        } else {
            format!("the batch's mean loss is {loss}")
        };
        Err(self.diverged(batch, what))
    }

    /// Counts, on the device, whether the accumulator's loss sum `sum` is
    /// still finite after batch `batch` (one dispatch, nothing allocated
    /// after the phase's first batch).
    fn count(&mut self, b: &dyn Backend, batch: u64, sum: &Tensor) -> Result<()> {
        let d = match &mut self.device {
            Some(d) => d,
            None => self.device.insert(DeviceWatch {
                finite: b.zeros(&[1])?,
                first: batch,
                batches: 0,
            }),
        };
        b.add_count_finite(&mut d.finite, sum)?;
        d.batches += 1;
        Ok(())
    }

    /// Checks the device count, given its value.
    fn check_device(&self, finite: f32) -> Result<()> {
        match &self.device {
            Some(d) if (finite as u64) < d.batches => Err(self.diverged(
                d.first + finite as u64,
                "the loss is not finite from this batch on (a NaN or infinite batch loss, \
                 or a loss sum past the f32 range)"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}

/// A `[1]` tensor's value, when it is in host memory.
fn host_scalar(t: &Tensor) -> Option<f64> {
    (t.is_host() && t.len() == 1).then(|| t.get(0))
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

/// One pass over `data` (already batched; one epoch: see the module docs),
/// updating the trainable variables of `groups` with `optimizer` after every
/// batch. Returns the pass's unfinalized metrics (TFF's client `train` metrics).
///
/// # Errors
/// A batch that does not match the model's input spec, a label out of range,
/// or an optimizer built for other variables; [`Error::Diverged`] for a
/// non-finite batch loss under [`Divergence::Fail`]; [`Error::Cancelled`]
/// when `opts.cancel` is set (checked before each batch). After an error the
/// model's variables and the optimizer's state are those of the last batch
/// done.
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
    let (settings, controls) = opts.split();
    let mut pacer = Pacer::new("train_local", controls);
    train_pass(b, model, parts, data, proximal, settings, &mut pacer)
        .await?
        .report(b)
        .await
}

/// The pass of [`train_local_multi`] without the read-back: every batch is
/// recorded on the backend (nothing waits for a device), and the metric sums
/// stay there in the returned [`PassOutput`], for the caller to read back
/// with whatever else it needs. `pacer` yields, reports and cancels.
///
/// # Errors
/// As [`train_local_multi`].
pub(crate) async fn train_pass(
    b: &dyn Backend,
    model: &mut dyn Model,
    parts: &mut [GroupOptimizer<'_>],
    data: &Dataset,
    proximal: Option<Proximal<'_>>,
    settings: PassSettings,
    pacer: &mut Pacer<'_>,
) -> Result<PassOutput> {
    let PassSettings {
        seed,
        first_step,
        epoch,
        divergence,
        phase,
    } = settings;
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
    let mut watch = LossWatch::new(pacer.op(), epoch, phase);
    let mut step = first_step;
    pacer.start_phase(phase);
    for batch in data.batches()? {
        pacer.before_batch().await?;
        let batch = batch?;
        check_batch(model.name(), model.input_spec(), &batch)?;
        let db = DeviceBatch::upload(b, &batch)?;
        let (out, mut grads) =
            model.forward_backward_sparse(b, &db, Mode::training(seed, step), &wrt)?;
        let loss = host_scalar(&out.loss);
        let index = pacer.done().batches;
        if let (Divergence::Fail, Some(l)) = (divergence, loss) {
            watch.add(index, batch.size(), l as f32)?;
        }
        acc.update(b, &out.loss, &out.predictions, &db.y)?;
        if let (Divergence::Fail, None) = (divergence, loss) {
            watch.count(b, index, acc.loss_sum())?;
        }
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
        pacer.after_batch(batch.size(), loss);
    }
    Ok(PassOutput::new(acc, watch))
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

/// Metrics of `model` on `data` (batched) in inference mode (dropout off),
/// yielding every [`DEFAULT_YIELD_EVERY`] batches.
///
/// # Errors
/// As [`train_local`] (a non-finite loss is reported, not an error).
pub async fn evaluate(
    b: &dyn Backend,
    model: &dyn Model,
    data: &Dataset,
) -> Result<UnfinalizedMetrics> {
    evaluate_with(b, model, data, Controls::default()).await
}

/// [`evaluate`] under the host's `controls` (yields, progress, cancellation).
///
/// # Errors
/// As [`evaluate`]; [`Error::Cancelled`].
pub async fn evaluate_with(
    b: &dyn Backend,
    model: &dyn Model,
    data: &Dataset,
    controls: Controls<'_>,
) -> Result<UnfinalizedMetrics> {
    let mut pacer = Pacer::new("evaluate", controls);
    evaluate_pass(b, model, data, &mut pacer)
        .await?
        .report(b)
        .await
}

/// [`evaluate`] without the read-back (see [`train_pass`]).
///
/// # Errors
/// As [`evaluate_with`].
pub(crate) async fn evaluate_pass(
    b: &dyn Backend,
    model: &dyn Model,
    data: &Dataset,
    pacer: &mut Pacer<'_>,
) -> Result<PassOutput> {
    let mut acc = MetricAccumulator::new(b, model.metrics())?;
    pacer.start_phase(Phase::Evaluate);
    for batch in data.batches()? {
        pacer.before_batch().await?;
        let batch = batch?;
        check_batch(model.name(), model.input_spec(), &batch)?;
        let db = DeviceBatch::upload(b, &batch)?;
        let out = model.forward(b, &db, Mode::inference())?;
        acc.update(b, &out.loss, &out.predictions, &db.y)?;
        pacer.after_batch(batch.size(), host_scalar(&out.loss));
    }
    Ok(PassOutput::new(
        acc,
        LossWatch::new(pacer.op(), 0, Phase::Evaluate),
    ))
}
