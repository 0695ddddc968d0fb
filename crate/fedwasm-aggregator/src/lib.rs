//! fedwasm-aggregator: the server side of a round for JavaScript, built
//! from `fedwasm-protocol` alone (no wgpu, layers, kernels or training), so
//! its wasm is small enough for a Node coordinator or a page that
//! aggregates its workers' updates.
//!
//! # Data layout
//! Everything crosses the JS boundary as the protocol's binary encodings
//! (`Uint8Array`s, specified byte by byte in `fedwasm_protocol::encoding`):
//! tasks (`FWTK`), updates (`FWUP`), checkpoints (`FWCK`), weights
//! (`FWWT`); configuration as JSON: the process spec
//! (`fedwasm_protocol::server::ProcessSpec`), dataset plans, limits and the
//! round's metrics.
//!
//! # JavaScript
//! ```js
//! import { ServerRound, initialState } from './fedwasm_aggregator.js';
//! const state = initialState(specJson, weightsFwwt);          // FWCK bytes
//! const round = new ServerRound(specJson, state);
//! const task = round.task(7n, '{"ops":[{"op":"batch","size":20}]}'); // FWTK bytes
//! round.accept(updateFwup);    // throws an Error with .code 'refused' and .reason
//! round.accept(updateFwup, 10); // also refused (reason 'norm') over L2 norm 10
//! const { state: next, metrics } = round.finish();
//! ```
//! Errors are JS `Error`s whose `code` is `fedwasm_protocol::Error::code`
//! (`refused`, `bad_data`, `limit`, `state_not_assignable`, ..).
//!
//! # Size
//! `tests/build-aggregator.sh` fails when the optimised wasm is over
//! 200 KiB (204,800 bytes; it is 203,397). What keeps it there: every JSON
//! document goes through `fedwasm_protocol::json` (no serde
//! (de)serializers are compiled in), floats in messages print through
//! `fedwasm_protocol::error::Float` (not core's float formatting), and on
//! wasm32 the global allocator is `alloc::SizeClasses` (not dlmalloc).
//! `twiggy top` / `twiggy dominators` on the wasm-size build (run
//! `wasm-opt -g` to keep names) show what a change costs.

use fedwasm_protocol::error::{Error, Float, Result};
use fedwasm_protocol::messages::ClientUpdate;
use fedwasm_protocol::model_weights::ModelWeights;
use fedwasm_protocol::plan::DatasetPlan;
use fedwasm_protocol::server::{ProcessSpec, ServerRound};
use fedwasm_protocol::state::LearningProcessState;
use fedwasm_protocol::weights::WeightsSnapshot;
use fedwasm_protocol::{aggregation::MeanAggregator, Limits};

#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod alloc;

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOC: alloc::SizeClasses = alloc::SizeClasses::new();

fn json<T: fedwasm_protocol::json::FromJson>(what: &str, s: &str) -> Result<T> {
    Limits::current().check(
        "fedwasm-aggregator",
        fedwasm_protocol::limits::LimitField::MessageBytes,
        what,
        s.len() as u64,
    )?;
    fedwasm_protocol::json::from_slice(s.as_bytes()).map_err(|e| Error::JsonDocument {
        what: what.into(),
        detail: e.to_string(),
    })
}

/// Parses a process spec (JSON) and validates it.
///
/// # Errors
/// [`Error::JsonDocument`] for malformed JSON or unknown fields; the spec's
/// validation errors.
pub fn parse_spec(spec_json: &str) -> Result<ProcessSpec> {
    let spec: ProcessSpec = json("process spec", spec_json)?;
    spec.validate()?;
    Ok(spec)
}

/// The state before the first round (an `FWCK` checkpoint) of the process
/// `spec_json`, from its initial global weights (an `FWWT` file).
///
/// # Errors
/// As [`parse_spec`], `WeightsSnapshot::from_bytes` and
/// `ModelWeights::from_snapshot`.
pub fn initial_state(spec_json: &str, weights: &[u8]) -> Result<Vec<u8>> {
    let spec = parse_spec(spec_json)?;
    let snapshot = WeightsSnapshot::from_bytes(weights)?;
    let weights = ModelWeights::from_snapshot(&snapshot, &spec.variables)?;
    spec.initial_state(weights, &MeanAggregator)?.to_bytes()
}

/// One round in progress, owning its spec and state.
#[derive(Debug)]
pub struct Round {
    round: Option<ServerRound>,
}

impl Round {
    /// Starts a round of `spec_json` from the checkpoint `state`.
    ///
    /// # Errors
    /// As [`parse_spec`], `LearningProcessState::from_bytes` and
    /// [`ServerRound::new`].
    pub fn new(spec_json: &str, state: &[u8]) -> Result<Round> {
        let spec = parse_spec(spec_json)?;
        let state = LearningProcessState::from_bytes(state)?;
        Ok(Round {
            round: Some(ServerRound::new(&spec, &state)?),
        })
    }

    fn live(&self) -> Result<&ServerRound> {
        self.round.as_ref().ok_or_else(closed)
    }

    /// The round's id.
    ///
    /// # Errors
    /// [`Error::Refused`] (`closed`) after [`Round::finish`].
    pub fn round_id(&self) -> Result<u64> {
        Ok(self.live()?.round_id())
    }

    /// Updates accepted so far.
    ///
    /// # Errors
    /// As [`Round::round_id`].
    pub fn accepted(&self) -> Result<usize> {
        Ok(self.live()?.accepted())
    }

    /// The `FWTK` task of client `client_key`, batching by `plan_json`
    /// (`""` for the empty plan).
    ///
    /// # Errors
    /// [`Error::JsonDocument`] or [`Error::InvalidArgument`] for a bad plan; as
    /// [`Round::round_id`].
    pub fn task(&self, client_key: u64, plan_json: &str) -> Result<Vec<u8>> {
        let plan: DatasetPlan = if plan_json.trim().is_empty() {
            DatasetPlan::new()
        } else {
            json("dataset plan", plan_json)?
        };
        plan.validate()?;
        self.live()?.task(client_key, plan).to_bytes()
    }

    /// Decodes and accepts one `FWUP` update. With `max_norm`, an update
    /// whose tensors' L2 norm (in `f64`, over every tensor of the update) is
    /// over it is refused (reason `norm`), after the round's own checks.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a `max_norm` that is NaN or negative;
    /// decoding errors; [`Error::Refused`] with its reason (the round's, or
    /// `norm`). Nothing changes on error.
    pub fn accept(&mut self, update: &[u8], max_norm: Option<f64>) -> Result<()> {
        self.receive(update, max_norm, true)
    }

    /// Every check of [`Round::accept`] (the decode, the round's, the norm
    /// bound's) without adding the update: whether `accept` would take it.
    ///
    /// # Errors
    /// As [`Round::accept`].
    pub fn check(&mut self, update: &[u8], max_norm: Option<f64>) -> Result<()> {
        self.receive(update, max_norm, false)
    }

    /// [`Round::accept`] (`add`) or [`Round::check`]: one body for both.
    fn receive(&mut self, update: &[u8], max_norm: Option<f64>, add: bool) -> Result<()> {
        if let Some(bound) = max_norm {
            // NaN is neither >= 0 nor < 0.
            if bound.is_nan() || bound < 0.0 {
                let op = if add {
                    "ServerRound::accept"
                } else {
                    "ServerRound::check"
                };
                return Err(Error::invalid(
                    op,
                    format!("maxNorm must be a number >= 0, got {}", Float(bound)),
                ));
            }
        }
        let update = ClientUpdate::from_bytes(update)?;
        let round = self.round.as_mut().ok_or_else(closed)?;
        if add {
            round.accept_bounded(&update, max_norm)
        } else {
            round.check_bounded(&update, max_norm)
        }
    }

    /// Ends the round: the new state as an `FWCK` checkpoint and the
    /// round's metrics as JSON (TFF's nesting).
    ///
    /// # Errors
    /// As [`ServerRound::finish`]; as [`Round::round_id`].
    pub fn finish(&mut self) -> Result<(Vec<u8>, String)> {
        let round = self.round.take().ok_or_else(closed)?;
        let (state, metrics) = round.finish()?;
        Ok((state.to_bytes()?, metrics.to_json()?))
    }
}

fn closed() -> Error {
    Error::Refused {
        op: "ServerRound",
        what: "call".into(),
        reason: "closed",
        detail: "the round has finished".into(),
    }
}

/// Sets the process-wide limits from JSON (fields of
/// `fedwasm_protocol::Limits`; missing ones keep their defaults).
///
/// # Errors
/// [`Error::JsonDocument`] for malformed JSON or unknown fields.
pub fn set_limits(limits_json: &str) -> Result<()> {
    let limits: Limits =
        fedwasm_protocol::json::from_slice(limits_json.as_bytes()).map_err(|e| {
            Error::JsonDocument {
                what: "limits".into(),
                detail: e.to_string(),
            }
        })?;
    limits.set();
    Ok(())
}

#[cfg(test)]
mod tests;
