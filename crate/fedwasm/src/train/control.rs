//! What a host controls while a pass runs: how often it yields, the progress
//! it is told, and a token that cancels it between batches.
//!
//! Every pass (training, evaluation, both reconstruction phases) goes batch
//! by batch: before a batch it yields to the host when
//! [`Controls::yield_every`] batches ran since the last yield, then checks
//! the [`CancelToken`]; after a batch it reports a [`Progress`]. A cancelled
//! pass returns [`Error::Cancelled`] before its next batch; what it changed
//! so far (the model's variables, the optimizer's slots) stays as it was
//! then, and nothing is read back.
//!
//! # Yielding
//! * **wasm32**: a yield is a macrotask of the JS event loop, so timers,
//!   input, rendering and `postMessage` handlers (a worker's cancel message)
//!   run before the next batch; a resolved promise would not do, as
//!   microtasks run before the event loop gets its turn. The scheduler is
//!   picked once from the global object: `setImmediate` (Node.js, Bun), else
//!   a `MessageChannel` (browsers, Web Workers: a posted message is a task
//!   and, unlike `setTimeout(0)`, is not clamped to 4 ms once timers nest),
//!   else `setTimeout(0)`. A yield costs one turn of the event loop and more in
//!   a busy pass (see [`MIN_YIELD_GAP_MS`]), so a pass yields every
//!   `yield_every` batches but at most once per [`MIN_YIELD_GAP_MS`] (16
//!   ms, a frame): about 3% of a softmax-regression epoch (batches of 20
//!   take ~80 us), nothing measurable for a CNN.
//! * **natively**: a yield returns `Pending` once after waking its own waker,
//!   so an async executor may run other tasks first; under `pollster` it
//!   costs one wake-up (about 20 ns). Another thread may cancel: the token
//!   is `Send + Sync`.
//!
//! # The running loss
//! [`Progress::loss`] is the running mean loss per example of the current
//! phase, when it can be had without waiting for a device: on the CPU
//! backend, whose tensors are in host memory, it is there after every batch.
//! On WebGPU it is `None` during a pass: reading it would cost one device
//! read-back (a queue submission, a buffer mapping and a wait for the GPU to
//! drain) per report, where a client otherwise reads back once, at its end.
//! The loss of a finished client comes with its metrics (the
//! `client_finished` event of [`crate::federated::RoundProgress`]).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::yield_point::yield_now;
use crate::error::{Error, Result};

/// Batches between two yields to the host when nothing else is said: the
/// yields then cost nothing measurable even for batches of a fraction of a
/// millisecond (softmax regression), and a worker hears a cancel message
/// within 8 batches. A pass on a page's main thread with slow batches (the
/// CNN: tens of ms each in wasm) wants `yield_every: 1`, one batch per task.
pub const DEFAULT_YIELD_EVERY: u32 = 8;

/// In wasm32, the least time between two yields of a pass, in ms: a pass
/// yields before a batch once [`Controls::yield_every`] batches ran since
/// its last yield *and* this long passed: one frame. A yield is one turn
/// of the JS event loop, and in a busy pass it costs far more than the
/// turn itself (measured in Node.js on the 2-core machine: yielding every
/// 8 softmax batches of 80 us made an epoch 15-25% slower, at most once per
/// 4 ms still 12%, at most once per 16 ms about 3%). Slow batches (a CNN:
/// tens of ms) yield every `yield_every` batches exactly; a page's main
/// thread keeps its frames. Natively a yield costs a wake-up and there is
/// no floor.
pub const MIN_YIELD_GAP_MS: f64 = 16.0;

/// Lets a host cancel passes between batches: clone it into a progress
/// callback, another task or (natively) another thread, and call
/// [`CancelToken::cancel`]. Clones share one flag; once set it stays set.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every pass holding this token (or a clone) to stop before its
    /// next batch.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Which part of a client's work a [`Progress`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Training (FedAvg's local epochs, stateful clients, the second phase
    /// of reconstruction training).
    Train,
    /// Evaluation (metrics only; the second phase of reconstruction evaluation).
    Evaluate,
    /// The first phase of a reconstruction client: local variables trained,
    /// globals frozen.
    Reconstruct,
}

/// Progress of a pass (or of a client's whole work), reported after every
/// batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// What the last batch was part of.
    pub phase: Phase,
    /// Batches done so far, counted over every phase of the work (a
    /// reconstruction client's two phases together cover its batches once).
    pub batches: u64,
    /// Examples done so far, counted as `batches`.
    pub examples: u64,
    /// The running mean loss per example of the current phase, where it
    /// needs no device read-back (the CPU backend: always; WebGPU: `None`;
    /// see the module docs).
    pub loss: Option<f64>,
}

impl Progress {
    /// Nothing done yet.
    pub fn start(phase: Phase) -> Self {
        Progress {
            phase,
            batches: 0,
            examples: 0,
            loss: None,
        }
    }
}

/// How a host steers a pass: yields, progress and cancellation.
/// [`Controls::default`] yields every [`DEFAULT_YIELD_EVERY`] batches and
/// reports nothing.
pub struct Controls<'a> {
    /// Yield to the host before a batch once this many batches ran since the
    /// last yield (0: never yield).
    pub yield_every: u32,
    /// wasm32: the least time between two yields, in ms (default
    /// [`MIN_YIELD_GAP_MS`]; 0: exactly every `yield_every` batches).
    /// Ignored natively.
    pub min_yield_gap_ms: f64,
    /// Called after each batch.
    pub progress: Option<&'a mut dyn FnMut(Progress)>,
    /// Checked before each batch: once cancelled, the pass returns
    /// [`Error::Cancelled`].
    pub cancel: Option<CancelToken>,
}

impl Default for Controls<'_> {
    fn default() -> Self {
        Controls {
            yield_every: DEFAULT_YIELD_EVERY,
            min_yield_gap_ms: MIN_YIELD_GAP_MS,
            progress: None,
            cancel: None,
        }
    }
}

impl fmt::Debug for Controls<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controls")
            .field("yield_every", &self.yield_every)
            .field("min_yield_gap_ms", &self.min_yield_gap_ms)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// What a local training pass does when its loss stops being finite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Divergence {
    /// Return [`Error::Diverged`] naming the epoch and batch of the first
    /// non-finite batch loss (local training).
    #[default]
    Fail,
    /// Keep going; the metrics carry the non-finite loss. Federated client
    /// work trains this way: TFF zeroes a client's non-finite update and
    /// the round goes on.
    Continue,
}

/// The [`Controls`] of one client's work (or one local pass) as it runs:
/// counts the batches, yields, reports and checks the token.
pub(crate) struct Pacer<'a> {
    op: &'static str,
    yield_every: u32,
    since_yield: u32,
    /// When the pass last gave the host its turn (or started), for
    /// [`MIN_YIELD_GAP_MS`] (wasm32 only).
    #[cfg(target_arch = "wasm32")]
    last_yield_ms: f64,
    #[cfg(target_arch = "wasm32")]
    min_gap_ms: f64,
    progress: Option<&'a mut dyn FnMut(Progress)>,
    cancel: Option<CancelToken>,
    done: Progress,
    /// The current phase's `(sum of batch loss x batch size, examples)`,
    /// while every batch loss of the phase was on the host.
    phase_loss: Option<(f64, u64)>,
}

impl<'a> Pacer<'a> {
    /// A pacer for `controls`; `op` names the operation in [`Error::Cancelled`].
    pub(crate) fn new(op: &'static str, controls: Controls<'a>) -> Self {
        Pacer {
            op,
            yield_every: controls.yield_every,
            since_yield: 0,
            #[cfg(target_arch = "wasm32")]
            last_yield_ms: crate::wasm::performance_now_ms(),
            #[cfg(target_arch = "wasm32")]
            min_gap_ms: controls.min_yield_gap_ms,
            progress: controls.progress,
            cancel: controls.cancel,
            done: Progress::start(Phase::Train),
            phase_loss: Some((0.0, 0)),
        }
    }

    /// Starts a phase: the running loss restarts, the counts go on.
    pub(crate) fn start_phase(&mut self, phase: Phase) {
        self.done.phase = phase;
        self.done.loss = None;
        self.phase_loss = Some((0.0, 0));
    }

    /// The operation this pacer runs (for errors).
    pub(crate) fn op(&self) -> &'static str {
        self.op
    }

    /// What has been done so far.
    pub(crate) fn done(&self) -> Progress {
        self.done
    }

    /// [`Error::Cancelled`] if the token is set.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.cancel {
            Some(t) if t.is_cancelled() => Err(Error::Cancelled { op: self.op }),
            _ => Ok(()),
        }
    }

    /// A yield to the host, unless yielding is off.
    pub(crate) async fn yield_to_host(&mut self) {
        if self.yield_every > 0 {
            self.since_yield = 0;
            yield_now().await;
            #[cfg(target_arch = "wasm32")]
            {
                self.last_yield_ms = crate::wasm::performance_now_ms();
            }
        }
    }

    /// Before a batch: yields if `yield_every` batches ran since the last
    /// yield, then checks the token.
    ///
    /// # Errors
    /// [`Error::Cancelled`].
    pub(crate) async fn before_batch(&mut self) -> Result<()> {
        if self.yield_every > 0 && self.since_yield >= self.yield_every && self.gap_passed() {
            self.yield_to_host().await;
        }
        self.check()
    }

    /// Whether the least gap between yields passed since the last one (wasm32;
    /// natively a yield costs nothing and there is no floor).
    fn gap_passed(&self) -> bool {
        #[cfg(target_arch = "wasm32")]
        {
            self.min_gap_ms <= 0.0
                || crate::wasm::performance_now_ms() - self.last_yield_ms >= self.min_gap_ms
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            true
        }
    }

    /// After a batch of `examples` examples whose mean loss is `loss` when
    /// it is on the host: counts it and reports.
    pub(crate) fn after_batch(&mut self, examples: usize, loss: Option<f64>) {
        self.since_yield = self.since_yield.saturating_add(1);
        self.done.batches += 1;
        self.done.examples += examples as u64;
        self.phase_loss = match (self.phase_loss, loss) {
            (Some((sum, n)), Some(l)) => Some((sum + l * examples as f64, n + examples as u64)),
            _ => None,
        };
        self.done.loss = match self.phase_loss {
            Some((sum, n)) if n > 0 => Some(sum / n as f64),
            _ => None,
        };
        if let Some(p) = self.progress.as_mut() {
            p(self.done);
        }
    }
}
