//! The client side of one Federated Reconstruction round of seed 003's matrix
//! factorisation (W3), timed: `fedwasm bench recon`.
//!
//! # What one round is
//! MovieLens-100K-shaped synthetic ratings ([`synthetic_ratings`]: 943 users,
//! 1,682 items, 106 ratings per user, 99,958 in all); the model is
//! [`builtin::matrix_factorization`]`(1682, 50)` (a global `[1682, 50]` item
//! table, 84,100 floats, and a local `[1, 50]` user vector). For each of the
//! round's clients (the first `clients` users):
//! 1. the model's global variables are set to a copy of the server's, and the
//!    local user vector is re-initialised (uniform, seeded by the client);
//! 2. the client's data is `take(300).shuffle(300, 42).batch(5)`, as in the
//!    tutorial, and [`reconstruct_and_train`] runs with the tutorial's
//!    settings: the user vector trained with SGD 0.1 on the even batches
//!    (globals frozen), then the item table with SGD 0.5 on the odd batches
//!    (`split_dataset`);
//! 3. the client's delta of the global variables (`trained - server`) is read
//!    back and added, weighted by the client's post-reconstruction example
//!    count, into an `f64` running sum (a stand-in for the server's
//!    aggregator, whose cost is this one: O(model size) per client).
//!
//! The round ends when every delta is summed. One warm-up round, then
//! `rounds` timed rounds over the same clients and the same server weights;
//! the median is reported. "Example-steps" are the examples that went through
//! a training step in either phase (each example once: the split is disjoint).

use serde::{Deserialize, Serialize};

use super::now_seconds;
use crate::backend::{Backend, BackendInfo};
use crate::data::{synthetic_ratings, Dataset, ReconstructionSplit, SyntheticRatings};
use crate::error::{Error, Result};
use crate::metrics::MetricKind;
use crate::model::{builtin, GraphModel, Model, VariableGroup};
use crate::optim::OptimizerConfig;
use crate::tensor::Tensor;
use crate::train::{reconstruct_and_train, ReconstructionConfig};

/// MovieLens 100K: users.
pub const ML100K_USERS: usize = 943;
/// MovieLens 100K: items.
pub const ML100K_ITEMS: usize = 1682;
/// Ratings per synthetic user: 100,000 / 943, rounded up.
pub const ML100K_RATINGS_PER_USER: usize = 106;

/// A reconstruction-round benchmark configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconBench {
    /// Clients per round (at most 943).
    pub clients: usize,
    /// Timed rounds (after one warm-up round); the median is reported.
    pub rounds: usize,
    /// Embedding width (the tutorial's 50).
    pub latent: usize,
    /// Examples per batch (the tutorial's 5).
    pub batch: usize,
}

impl Default for ReconBench {
    fn default() -> Self {
        ReconBench {
            clients: 50,
            rounds: 7,
            latent: 50,
            batch: 5,
        }
    }
}

/// What a reconstruction-round benchmark measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconBenchResult {
    /// The configuration.
    pub config: ReconBench,
    /// Backend and adapter.
    pub backend: BackendInfo,
    /// Median round time in seconds.
    pub round_seconds: f64,
    /// Fastest round in seconds.
    pub best_round_seconds: f64,
    /// Slowest timed round in seconds.
    pub worst_round_seconds: f64,
    /// Of the median round: seconds in [`reconstruct_and_train`] (the rest is
    /// setting the globals, re-initialising the user vector, and the deltas).
    pub train_seconds: f64,
    /// Examples through a training step per round (both phases).
    pub example_steps: u64,
    /// Training steps (batches) per round (both phases).
    pub steps: u64,
    /// `example_steps / round_seconds`.
    pub example_steps_per_second: f64,
    /// Floats in the global variables (the size of one client's delta).
    pub global_floats: usize,
    /// Mean post-reconstruction training loss of the last round (a sanity value).
    pub loss: f64,
}

/// Runs the benchmark on `b` (see the module docs).
///
/// # Errors
/// [`Error::InvalidArgument`] for zero clients, rounds, batch or width, or
/// more clients than users; whatever the backend or model reports.
pub async fn run_recon_bench(b: &dyn Backend, config: &ReconBench) -> Result<ReconBenchResult> {
    if config.clients == 0 || config.clients > ML100K_USERS {
        return Err(Error::invalid(
            "bench recon",
            format!(
                "clients must be in 1..={ML100K_USERS}, got {}",
                config.clients
            ),
        ));
    }
    if config.rounds == 0 || config.batch == 0 || config.latent == 0 {
        return Err(Error::invalid(
            "bench recon",
            "rounds, batch and latent must be at least 1",
        ));
    }
    let data = synthetic_ratings(&SyntheticRatings {
        num_users: ML100K_USERS,
        num_items: ML100K_ITEMS,
        rank: 8,
        ratings_per_user: ML100K_RATINGS_PER_USER,
        noise_std: 0.5,
        seed: 3,
    })?;
    let datasets: Vec<Dataset> = data
        .clients
        .take_clients(config.clients)
        .iter()
        .map(|(_, ex)| {
            Dataset::from_arc(ex.clone())
                .take(300)
                .shuffle(300, 42)
                .batch(config.batch, false)
        })
        .collect();
    let recon = ReconstructionConfig {
        reconstruction_optimizer: OptimizerConfig::sgd(0.1),
        client_optimizer: OptimizerConfig::sgd(0.5),
        split: ReconstructionSplit {
            split_dataset: true,
            ..ReconstructionSplit::default()
        },
    };
    let mut model = GraphModel::new(
        builtin::matrix_factorization(ML100K_ITEMS, config.latent),
        b,
        0,
    )?;
    let globals: Vec<usize> = (0..model.variables().len())
        .filter(|&i| model.variables()[i].group.is_global())
        .collect();
    let server: Vec<Tensor> = globals.iter().map(|&i| model.values()[i].clone()).collect();
    let mut server_host = Vec::with_capacity(server.len());
    for t in &server {
        server_host.push(b.read(t).await?);
    }
    let global_floats = server_host.iter().map(Vec::len).sum();

    let mut times: Vec<(f64, f64)> = Vec::with_capacity(config.rounds);
    let (mut example_steps, mut steps, mut loss) = (0u64, 0u64, f64::NAN);
    for round in 0..=config.rounds {
        let t0 = now_seconds();
        let mut sum: Vec<Vec<f64>> = server_host.iter().map(|v| vec![0.0; v.len()]).collect();
        let (mut weight, mut loss_sum, mut ex, mut st) = (0.0f64, 0.0f64, 0u64, 0u64);
        let mut train_seconds = 0.0;
        for (c, ds) in datasets.iter().enumerate() {
            for (&i, s) in globals.iter().zip(&server) {
                model.values_mut()[i].clone_from(s);
            }
            model.reinitialize(b, &[VariableGroup::LocalTrainable], c as u64)?;
            let t1 = now_seconds();
            let m = reconstruct_and_train(b, &mut model, &recon, ds, c as u64).await?;
            train_seconds += now_seconds() - t1;
            let n = m.value(MetricKind::NumExamples).unwrap_or(0.0);
            for ((&i, base), acc) in globals.iter().zip(&server_host).zip(&mut sum) {
                let trained = b.read(&model.values()[i]).await?;
                for ((a, &w), &s) in acc.iter_mut().zip(&trained).zip(base) {
                    *a += n * (w as f64 - s as f64);
                }
            }
            weight += n;
            loss_sum += n * m.value(MetricKind::Loss).unwrap_or(f64::NAN);
            ex += ds.source().len().min(300) as u64;
            st += ds.cardinality().unwrap_or(0) as u64;
        }
        // The weighted mean delta is what the server would apply.
        let scale = if weight > 0.0 { 1.0 / weight } else { 0.0 };
        let norm: f64 = sum.iter().flatten().map(|d| (d * scale).powi(2)).sum();
        let seconds = now_seconds() - t0;
        if !norm.is_finite() {
            return Err(Error::invalid(
                "bench recon",
                "the mean delta is not finite",
            ));
        }
        if round > 0 {
            times.push((seconds, train_seconds));
        }
        (example_steps, steps, loss) = (ex, st, loss_sum * scale);
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, train_seconds) = times[times.len() / 2];
    Ok(ReconBenchResult {
        config: config.clone(),
        backend: b.info(),
        round_seconds: median,
        best_round_seconds: times[0].0,
        worst_round_seconds: times[times.len() - 1].0,
        train_seconds,
        example_steps,
        steps,
        example_steps_per_second: example_steps as f64 / median,
        global_floats,
        loss,
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;

    #[test]
    fn a_small_round_counts_every_example_once() {
        let b = CpuBackend::new();
        let config = ReconBench {
            clients: 3,
            rounds: 1,
            ..ReconBench::default()
        };
        let r = pollster::block_on(run_recon_bench(&b, &config)).unwrap();
        // 106 ratings per client in 22 batches of 5 (the last of 1).
        assert_eq!(r.example_steps, 3 * 106);
        assert_eq!(r.steps, 3 * 22);
        assert_eq!(r.global_floats, 1682 * 50);
        assert!(r.loss.is_finite() && r.loss > 0.0, "{}", r.loss);
        assert!(r.train_seconds <= r.round_seconds);
        for clients in [0, 944] {
            let bad = ReconBench {
                clients,
                ..config.clone()
            };
            let err = pollster::block_on(run_recon_bench(&b, &bad)).unwrap_err();
            assert!(err.to_string().contains("clients"), "{err}");
        }
    }
}
