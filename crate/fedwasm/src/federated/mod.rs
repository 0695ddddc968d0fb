//! Federated algorithms: TFF's `tff.learning.algorithms` on top of local
//! training ([`crate::train`]).
//!
//! # Data layout
//! * Server state ([`LearningProcessState`], JSON checkpoints):
//!   `global_model_weights {trainable, non_trainable}` (named row-major `f32`
//!   tensors, [`ModelWeights`]), `distributor`, `client_work`, `aggregator`,
//!   `finalizer {round, server_optimizer}`; see [`state`].
//! * Client data: one **batched** [`crate::data::Dataset`] per client of the
//!   round, in a fixed order, each of the model's element spec.
//! * Client updates: `client - global` per global trainable variable,
//!   `f32`; aggregated by a streaming weighted mean in `f64` on the host
//!   ([`WeightedMean`]: O(model size) memory, deterministic for a fixed
//!   client order).
//! * Round metrics ([`RoundMetrics`], JSON): `distributor`,
//!   `client_work.train.{loss, num_examples, ..}` (or `client_work.eval`),
//!   `aggregator.{mean_value, mean_weight}`, `finalizer.update_non_finite`.
//!
//! # Algorithms
//! | builder | clients | server |
//! |---|---|---|
//! | [`build_weighted_fed_avg`], [`build_unweighted_fed_avg`] | train globals with the client optimizer | server optimizer on `-mean(delta)` |
//! | [`build_fed_prox`] | as FedAvg plus `mu * (w - w_global)` in each gradient | as FedAvg |
//! | [`build_fed_recon`] | re-initialise locals, reconstruct them, train globals | as FedAvg |
//! | [`build_stateful_fed_avg`] | load the client's saved locals, train both, return the locals | as FedAvg |
//! | [`build_fed_eval`], [`build_fed_recon_eval`] | metrics (after reconstruction) | sums metrics over rounds |
//!
//! A client whose update has a NaN or infinity sends zeros instead (weight 0
//! when weighting by examples), as TFF's client work does; a non-finite
//! aggregate is still rejected by the finalizer (`update_non_finite = 1`,
//! model unchanged). Every round is a pure function of the state, the
//! client datasets and the builder's configuration, so a state restored from
//! its JSON continues bit for bit like an uninterrupted run.
//!
//! # Example
//! ```
//! # fn main() -> fedwasm::Result<()> {
//! use std::rc::Rc;
//! use fedwasm::backend::CpuBackend;
//! use fedwasm::data::femnist_digits;
//! use fedwasm::federated::{self, ClientWeighting, FedAvgConfig};
//! use fedwasm::metrics::MetricKind;
//! use fedwasm::model::builtin;
//! use fedwasm::optim::OptimizerConfig;
//!
//! let (train, _test) = femnist_digits()?;
//! let process = federated::build_weighted_fed_avg(
//!     federated::model_fn(builtin::softmax_regression()),
//!     Rc::new(CpuBackend::new()),
//!     FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.02)),
//!     ClientWeighting::NumExamples,
//! )?;
//! let mut state = pollster::block_on(process.initialize())?;
//! for round in 0..2 {
//!     let ids = federated::sample_client_ids(&train, 5, 42, round)?;
//!     let clients = federated::client_datasets(&train, &ids, |ds| {
//!         ds.shuffle(100, round).batch(20, false)
//!     })?;
//!     let out = pollster::block_on(process.next(&state, &clients))?;
//!     println!("round {round}: {}", out.metrics.to_json()?);
//!     assert_eq!(out.metrics.update_non_finite(), Some(0));
//!     assert!(out.metrics.train(MetricKind::Loss).is_some());
//!     state = out.state;
//! }
//! let checkpoint = state.to_json()?; // resume later with LearningProcessState::from_json
//! let weights = process.get_model_weights(&state)?;
//! assert_eq!(weights.trainable.len(), 2);
//! # let _ = checkpoint;
//! # Ok(())
//! # }
//! ```

mod client;
pub mod control;
mod fed_avg;
mod fed_eval;
mod fed_recon;
mod process;
mod sampling;
mod stateful;
mod weights;

pub use fedwasm_protocol::{aggregation, finalizer, round_metrics as metrics, state};

pub use aggregation::{
    Aggregate, AggregationRound, ClientWeighting, MeanAggregator, ModelAggregator, WeightedMean,
};
pub use client::{
    assign_client_state, client_seed, client_update, client_update_with, read_client_state,
    ClientOutput, ClientState, ClientTask, ClientUpdate, ClientWork,
};
pub use control::{RoundOptions, RoundProgress};
pub use fed_avg::{build_fed_prox, build_unweighted_fed_avg, build_weighted_fed_avg, FedAvgConfig};
pub use fed_eval::{build_fed_eval, build_fed_recon_eval, FedReconEvalConfig};
pub use fed_recon::{build_fed_recon, FedReconConfig};
pub use metrics::{ClientWorkMetrics, EvalMetrics, FinalizerMetrics, MetricValues, RoundMetrics};
pub use process::{
    model_fn, LearningProcess, LearningProcessOutput, ModelFn, ProcessSpec, ServerRound,
};
pub use sampling::{client_datasets, sample_client_ids, sample_clients};
pub use state::{ClientWorkState, Empty, EvalState, FinalizerState, LearningProcessState};
pub use stateful::{build_stateful_fed_avg, StatefulConfig, StatefulOutput, StatefulProcess};
pub use weights::{assign_model_weights, read_model_weights, ModelWeights};
