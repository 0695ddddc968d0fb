//! A host's controls over a whole round ([`RoundOptions`], for
//! [`super::LearningProcess::next_with`] and
//! [`super::StatefulProcess::next_with`]) and the progress it is told
//! ([`RoundProgress`]). Each client's work runs under the per-pass
//! [`Controls`] made from them (see [`crate::train::control`]).
//!
//! A round is a pure function of the state, so a cancelled round has no
//! effect: [`Error::Cancelled`](crate::Error::Cancelled) comes back, the
//! state passed in is untouched, and running it again gives what an
//! uninterrupted round gives.

use std::fmt;

use crate::metrics::{MetricKind, UnfinalizedMetrics};
use crate::train::{CancelToken, Controls, Phase, Progress, DEFAULT_YIELD_EVERY};

/// Progress of a round, reported after every batch of every client and once
/// more when a client's work is done.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundProgress {
    /// Clients whose work is done (their outputs accepted into the round).
    pub clients_done: usize,
    /// Clients in the round.
    pub clients_total: usize,
    /// The client this report is about: its position in the round.
    pub client: usize,
    /// That client's progress: batches and examples over all its phases,
    /// and the running loss where it needs no read-back ([`Progress::loss`]).
    /// In the `client_finished` report, its whole work, with the loss from
    /// its metrics on every backend.
    pub client_progress: Progress,
    /// True in the one report that ends a client's work.
    pub client_finished: bool,
}

/// How a host steers a round. The default yields every
/// [`DEFAULT_YIELD_EVERY`] batches (and between clients), reports nothing
/// and cannot be cancelled.
pub struct RoundOptions<'a> {
    /// Called after each batch of each client and when a client is done.
    pub progress: Option<&'a mut dyn FnMut(RoundProgress)>,
    /// Yields to the host every this many batches within a client, and
    /// between clients (0: never).
    pub yield_every: u32,
    /// Checked before every client and every batch: once cancelled, the
    /// round returns [`Error::Cancelled`](crate::Error::Cancelled).
    pub cancel: Option<CancelToken>,
}

impl Default for RoundOptions<'_> {
    fn default() -> Self {
        RoundOptions {
            progress: None,
            yield_every: DEFAULT_YIELD_EVERY,
            cancel: None,
        }
    }
}

impl fmt::Debug for RoundOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoundOptions")
            .field("progress", &self.progress.is_some())
            .field("yield_every", &self.yield_every)
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// A round's options as the round engine uses them: the pacing every
/// client gets, the round's progress callback and its client counts.
pub(crate) struct RoundControl<'a> {
    progress: Option<&'a mut dyn FnMut(RoundProgress)>,
    pub pacing: Pacing,
    clients_total: usize,
    clients_done: usize,
}

/// Yields and cancellation, as each client's [`Controls`] get them.
#[derive(Clone, Debug)]
pub(crate) struct Pacing {
    pub yield_every: u32,
    pub cancel: Option<CancelToken>,
}

impl Pacing {
    /// [`crate::Error::Cancelled`] naming `op` if the token is set.
    pub(crate) fn check(&self, op: &'static str) -> crate::Result<()> {
        match &self.cancel {
            Some(t) if t.is_cancelled() => Err(crate::Error::Cancelled { op }),
            _ => Ok(()),
        }
    }

    /// A yield to the host between clients, unless yielding is off.
    pub(crate) async fn yield_to_host(&self) {
        if self.yield_every > 0 {
            crate::train::yield_now().await;
        }
    }

    /// A client's controls, reporting each batch to `on_batch`.
    pub(crate) fn controls<'c>(&self, on_batch: &'c mut dyn FnMut(Progress)) -> Controls<'c> {
        Controls {
            yield_every: self.yield_every,
            min_yield_gap_ms: crate::train::MIN_YIELD_GAP_MS,
            progress: Some(on_batch),
            cancel: self.cancel.clone(),
        }
    }
}

impl<'a> RoundControl<'a> {
    pub(crate) fn new(opts: RoundOptions<'a>, clients_total: usize) -> Self {
        RoundControl {
            progress: opts.progress,
            pacing: Pacing {
                yield_every: opts.yield_every,
                cancel: opts.cancel,
            },
            clients_total,
            clients_done: 0,
        }
    }

    /// The reporter of client `client`'s batches.
    pub(crate) fn client(&mut self, client: usize) -> ClientReporter<'_, 'a> {
        ClientReporter {
            report: self.progress.as_deref_mut(),
            client,
            clients_done: self.clients_done,
            clients_total: self.clients_total,
            last: Progress::start(Phase::Train),
        }
    }

    /// Client `client` is done with `metrics` after `last`: reports it with
    /// the loss from its metrics.
    pub(crate) fn finished(&mut self, client: usize, last: Progress, metrics: &UnfinalizedMetrics) {
        self.clients_done += 1;
        if let Some(report) = self.progress.as_deref_mut() {
            report(RoundProgress {
                clients_done: self.clients_done,
                clients_total: self.clients_total,
                client,
                client_progress: Progress {
                    loss: metrics.value(MetricKind::Loss),
                    ..last
                },
                client_finished: true,
            });
        }
    }
}

/// Turns one client's [`Progress`] into the round's [`RoundProgress`] and
/// keeps the last one.
pub(crate) struct ClientReporter<'r, 'a> {
    report: Option<&'r mut (dyn FnMut(RoundProgress) + 'a)>,
    client: usize,
    clients_done: usize,
    clients_total: usize,
    last: Progress,
}

impl ClientReporter<'_, '_> {
    /// After one of the client's batches.
    pub(crate) fn batch(&mut self, p: Progress) {
        self.last = p;
        if let Some(report) = self.report.as_deref_mut() {
            report(RoundProgress {
                clients_done: self.clients_done,
                clients_total: self.clients_total,
                client: self.client,
                client_progress: p,
                client_finished: false,
            });
        }
    }

    /// The client's last progress.
    pub(crate) fn last(&self) -> Progress {
        self.last
    }
}
