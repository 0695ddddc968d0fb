//! `fedwasm simulate`: TFF's tutorial set-ups as federated simulations, one
//! JSON object per line.
//!
//! ```text
//! fedwasm simulate --workload w1|w2|w3 [--data DIR] [--ratings FILE]
//!     [--rounds N] [--clients N] [--epochs N] [--batch N] [--client-lr X]
//!     [--server-lr X] [--recon-lr X] [--seed S] [--eval-every N]
//!     [--threads N] [--writers N] [--dim K] [--stateful]
//! ```
//! - **w1**, TFF's image-classification tutorial (seed 002): digits of the
//!   first 10 writers (sorted ids); each client's data
//!   `repeat(5).shuffle(100, seed 1).batch(20)`; 784->10 softmax regression,
//!   zero init; client SGD 0.02, server SGD 1.0; 10 rounds; then FedEval on
//!   the writers' train and test data (batch 20).
//! - **w2**: `cnn_dropout` on all writers' digits; 10 writers sampled per
//!   round without replacement (seed 0); `shuffle(100, seed 1).batch(20)`,
//!   1 epoch; client SGD 0.1, server SGD 1.0; 30 rounds; FedEval on all test
//!   writers every 10 rounds. Clients train in parallel (`--threads`,
//!   default: every core).
//! - **w3**, TFF's Federated Reconstruction tutorial on MovieLens
//!   (`--ratings u.data|ratings.dat`; without it, synthetic ratings shaped
//!   like MovieLens 100K): at most 300 ratings per user, `shuffle(300, seed
//!   42).batch(5)`; users shuffled (seed 42) and split 0.8/0.1/0.1; item
//!   `Embedding(n_items, 50)`, local user vector, `Dot`; FedRecon with
//!   reconstruction SGD 0.1, client SGD 0.5, server SGD 1.0; 50 clients per
//!   round, 20 rounds; then FedReconEval on every test user (accuracy, MSE,
//!   RMSE). `--stateful` keeps each user's vector between rounds instead
//!   (seed 003's stateful clients, with seed 003's rates: globals SGD 0.1,
//!   the user's vector SGD 0.5 (`--recon-lr`), server SGD 1.0).
//!
//! Output: `{"round", "seconds", "metrics"}` per round (TFF-shaped metrics),
//! `{"evaluation", "round", "seconds", "metrics"}` per evaluation, and first a
//! `{"workload", "data", ...}` line describing the run.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use fedwasm::backend::{Backend, BackendKind, CpuBackend};
use fedwasm::data::{
    self, synthetic_ratings, ClientData, Dataset, DatasetPlan, LeafOptions, MovieLensOptions,
    ReconstructionSplit, SyntheticRatings,
};
use fedwasm::error::{Error, Result};
use fedwasm::federated::{
    self, build_fed_eval, build_fed_recon, build_fed_recon_eval, build_stateful_fed_avg,
    build_weighted_fed_avg, client_update, ClientState, ClientWeighting, FedAvgConfig,
    FedReconConfig, FedReconEvalConfig, LearningProcess, LearningProcessOutput,
    LearningProcessState, RoundMetrics, StatefulConfig,
};
use fedwasm::metrics::MetricKind;
use fedwasm::model::{builtin, GraphModel, ModelSpec};
use fedwasm::optim::OptimizerConfig;
use fedwasm::rng::Rng;
use fedwasm::train::ReconstructionConfig;

use crate::cli::Flags;

/// The tutorial set-ups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    W1,
    W2,
    W3,
}

impl std::str::FromStr for Workload {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "w1" => Ok(Workload::W1),
            "w2" => Ok(Workload::W2),
            "w3" => Ok(Workload::W3),
            _ => Err(()),
        }
    }
}

/// Every knob of a run, defaulted per workload and overridden by flags.
#[derive(Clone, Debug)]
struct Knobs {
    rounds: u64,
    /// Clients per round (`None`: every training client, in id order).
    clients: Option<usize>,
    epochs: usize,
    batch: usize,
    client_lr: f32,
    server_lr: f32,
    recon_lr: f32,
    seed: u64,
    eval_every: u64,
    threads: usize,
    writers: Option<usize>,
    dim: usize,
    stateful: bool,
}

impl Knobs {
    fn parse(w: Workload, flags: &Flags) -> Result<Knobs> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (rounds, clients, epochs, batch, client_lr, writers) = match w {
            Workload::W1 => (10, None, 5, 20, 0.02, Some(10)),
            Workload::W2 => (30, Some(10), 1, 20, 0.1, None),
            Workload::W3 => (20, Some(50), 1, 5, 0.5, None),
        };
        let clients = flags.get_opt::<usize>("clients")?.or(clients);
        let writers = flags.get_opt::<usize>("writers")?.or(writers);
        // Seed 003's stateful clients train the globals with SGD 0.1 and
        // their own vector with SGD 0.5 (`--recon-lr` is the local rate).
        let stateful = flags.has("stateful");
        let (client_lr, recon_lr) = if stateful {
            (0.1, 0.5)
        } else {
            (client_lr, 0.1)
        };
        let knobs = Knobs {
            rounds: flags.get("rounds", rounds)?,
            clients,
            epochs: flags.get("epochs", epochs)?,
            batch: flags.get("batch", batch)?,
            client_lr: flags.get("client-lr", client_lr)?,
            server_lr: flags.get("server-lr", 1.0)?,
            recon_lr: flags.get("recon-lr", recon_lr)?,
            seed: flags.get("seed", if w == Workload::W2 { 0 } else { 42 })?,
            eval_every: flags.get("eval-every", if w == Workload::W2 { 10 } else { 0 })?,
            threads: flags.get("threads", if w == Workload::W2 { cores } else { 1 })?,
            writers,
            dim: flags.get("dim", 50)?,
            stateful,
        };
        if knobs.batch == 0 || knobs.epochs == 0 || knobs.threads == 0 || knobs.dim == 0 {
            return Err(Error::invalid(
                "simulate",
                "--batch, --epochs, --threads and --dim must be at least 1",
            ));
        }
        if knobs.stateful && w != Workload::W3 {
            return Err(Error::invalid("simulate", "--stateful applies to w3 only"));
        }
        Ok(knobs)
    }
}

/// Prints one output line.
fn emit(value: serde_json::Value) {
    println!("{value}");
}

fn metrics_json(m: &RoundMetrics) -> Result<serde_json::Value> {
    serde_json::from_str(&m.to_json()?).map_err(|e| Error::invalid("simulate", e.to_string()))
}

/// Prints the line of round `round` (0-based; printed 1-based).
fn emit_round(round: u64, seconds: f64, metrics: &RoundMetrics) -> Result<()> {
    emit(serde_json::json!({
        "round": round + 1,
        "seconds": seconds,
        "metrics": metrics_json(metrics)?,
    }));
    Ok(())
}

/// Runs `fedwasm simulate` with the arguments after the subcommand.
pub fn simulate(args: &[String], backend: Box<dyn Backend>) -> Result<()> {
    let flags = Flags::parse(
        args,
        &[
            "workload",
            "data",
            "ratings",
            "rounds",
            "clients",
            "epochs",
            "batch",
            "client-lr",
            "server-lr",
            "recon-lr",
            "seed",
            "eval-every",
            "threads",
            "writers",
            "dim",
            "save-state",
        ],
        &["stateful"],
    )?;
    let workload: Workload = flags
        .get_opt::<String>("workload")?
        .ok_or_else(|| Error::invalid("simulate", "--workload w1|w2|w3 is required"))?
        .parse()
        .map_err(|_| Error::invalid("simulate", "--workload must be w1, w2 or w3"))?;
    let knobs = Knobs::parse(workload, &flags)?;
    let backend: Rc<dyn Backend> = Rc::from(backend);
    match workload {
        Workload::W1 | Workload::W2 => classification(workload, &knobs, &flags, backend),
        Workload::W3 => recommendation(&knobs, &flags, backend),
    }
}

/// LEAF digits from `--data DIR` (`train/`, `test/`), or the embedded copy of
/// the first 10 writers. `writers` keeps the first n train writers (and the
/// same writers' test data).
fn leaf_digits(flags: &Flags, writers: Option<usize>) -> Result<(ClientData, ClientData, String)> {
    let (train, test, source) = match flags.get_opt::<String>("data")? {
        Some(dir) => {
            let opts = LeafOptions {
                digits_only: true,
                ..LeafOptions::default()
            };
            let dir = std::path::Path::new(&dir);
            let train = data::load_leaf_dir(&dir.join("train"), &opts)?;
            let test = data::load_leaf_dir(&dir.join("test"), &opts)?;
            (train, test, dir.display().to_string())
        }
        None => {
            let (train, test) = data::femnist_digits()?;
            (
                train,
                test,
                "embedded FEMNIST digits (10 writers)".to_string(),
            )
        }
    };
    match writers {
        Some(n) => {
            let train = train.take_clients(n);
            let ids = train.client_ids();
            let test = test.retain_clients(|id| ids.iter().any(|w| w == id));
            Ok((train, test, format!("{source}, first {n} writers")))
        }
        None => Ok((train, test, source)),
    }
}

/// W1 and W2: FedAvg on FEMNIST digits, FedEval afterwards (and every
/// `eval_every` rounds).
fn classification(w: Workload, k: &Knobs, flags: &Flags, b: Rc<dyn Backend>) -> Result<()> {
    let (train, test, source) = leaf_digits(flags, k.writers)?;
    let spec = match w {
        Workload::W1 => builtin::softmax_regression(),
        _ => builtin::cnn_dropout(10),
    };
    let config = FedAvgConfig {
        client_optimizer: OptimizerConfig::sgd(k.client_lr),
        server_optimizer: OptimizerConfig::sgd(k.server_lr),
        seed: k.seed,
    };
    let model_fn = federated::model_fn(spec.clone());
    let process = build_weighted_fed_avg(
        model_fn.clone(),
        b.clone(),
        config,
        ClientWeighting::NumExamples,
    )?;
    let evaluator = build_fed_eval(model_fn, b.clone())?;
    let parallel = Parallel::new(k.threads, b.as_ref(), spec, k.seed);
    emit(serde_json::json!({
        "workload": format!("{w:?}").to_lowercase(),
        "data": source,
        "train_clients": train.num_clients(),
        "test_clients": test.num_clients(),
        "model": process.name(),
        "backend": b.info().adapter,
        "threads": parallel.threads,
    }));
    let (epochs, batch) = (k.epochs, k.batch);
    let mut state = pollster::block_on(process.initialize())?;
    for round in 0..k.rounds {
        let ids = match k.clients {
            Some(n) => federated::sample_client_ids(&train, n, k.seed, round)?,
            None => train.client_ids(),
        };
        let clients = federated::client_datasets(&train, &ids, |ds| {
            ds.repeat(epochs).shuffle(100, 1).batch(batch, false)
        })?;
        let t0 = Instant::now();
        let out = parallel.next(&process, &state, &clients)?;
        let secs = t0.elapsed().as_secs_f64();
        emit_round(round, secs, &out.metrics)?;
        state = out.state;
        let last = round + 1 == k.rounds;
        if k.eval_every > 0 && (round + 1) % k.eval_every == 0 && !last {
            evaluate_leaf(
                &evaluator,
                &parallel,
                &process,
                &state,
                &test,
                "test",
                round + 1,
                batch,
            )?;
        }
    }
    if let Some(path) = flags.get_opt::<String>("save-state")? {
        save_state(&path, &state)?;
    }
    if w == Workload::W1 {
        evaluate_leaf(
            &evaluator, &parallel, &process, &state, &train, "train", k.rounds, batch,
        )?;
    }
    evaluate_leaf(
        &evaluator, &parallel, &process, &state, &test, "test", k.rounds, batch,
    )
}

/// Writes `state` as its `FWCK` checkpoint (what the JS package's
/// `LearningProcessState.fromBytes` reads).
fn save_state(path: &str, state: &federated::LearningProcessState) -> Result<()> {
    std::fs::write(path, state.to_bytes()?).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })
}

/// FedEval of the training process's current model on every client of `data`.
#[allow(clippy::too_many_arguments)]
fn evaluate_leaf(
    evaluator: &LearningProcess,
    parallel: &Parallel,
    process: &LearningProcess,
    state: &LearningProcessState,
    data: &ClientData,
    name: &str,
    round: u64,
    batch: usize,
) -> Result<()> {
    let t0 = Instant::now();
    let eval_state = pollster::block_on(evaluator.initialize())?;
    let eval_state = evaluator.set_model_weights(&eval_state, process.get_model_weights(state)?)?;
    let clients =
        federated::client_datasets(data, &data.client_ids(), |ds| ds.batch(batch, false))?;
    let out = parallel.next(evaluator, &eval_state, &clients)?;
    emit(serde_json::json!({
        "evaluation": name,
        "round": round,
        "seconds": t0.elapsed().as_secs_f64(),
        "metrics": metrics_json(&out.metrics)?,
    }));
    Ok(())
}

/// Rounds of a (non-stateful) process, with the clients spread over
/// `threads` threads when the backend is the CPU: each thread builds its own
/// CPU backend and model, and the outputs are accepted in client order, so
/// the result does not depend on the number of threads.
struct Parallel {
    threads: usize,
    spec: ModelSpec,
    seed: u64,
}

impl Parallel {
    fn new(threads: usize, b: &dyn Backend, spec: ModelSpec, seed: u64) -> Parallel {
        let threads = if b.info().kind == BackendKind::Cpu {
            threads
        } else {
            1
        };
        Parallel {
            threads,
            spec,
            seed,
        }
    }

    fn next(
        &self,
        process: &LearningProcess,
        state: &LearningProcessState,
        clients: &[Dataset],
    ) -> Result<LearningProcessOutput> {
        if self.threads <= 1 || clients.len() <= 1 {
            return pollster::block_on(process.next(state, clients));
        }
        process.check_client_data("LearningProcess::next", clients)?;
        let mut round = process.begin_round(state)?;
        let tasks: Vec<_> = (0..clients.len())
            .map(|i| round.task(i as u64, DatasetPlan::new()))
            .collect();
        let threads = self.threads.min(clients.len());
        let mut outputs: Vec<Option<Result<federated::ClientOutput>>> =
            (0..clients.len()).map(|_| None).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (tasks, spec, seed) = (&tasks, &self.spec, self.seed);
                    s.spawn(move || {
                        let b = CpuBackend::new();
                        // Global-only models (checked by FedAvg/FedEval): every
                        // variable is overwritten by the broadcast weights.
                        let mut model = GraphModel::new(spec.clone(), &b, seed)?;
                        let mut done = Vec::new();
                        for i in (t..clients.len()).step_by(threads) {
                            let out = pollster::block_on(client_update(
                                &b,
                                &mut model,
                                &tasks[i],
                                &clients[i],
                                None,
                            ));
                            done.push((i, out));
                        }
                        Ok::<_, Error>(done)
                    })
                })
                .collect();
            // Join every thread before reporting, so that a panic in one
            // never escapes the scope; then report the first failure.
            let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
            for j in joined {
                match j {
                    Ok(Ok(done)) => {
                        for (i, out) in done {
                            outputs[i] = Some(out);
                        }
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(Error::invalid("simulate", "a client thread panicked")),
                }
            }
            Ok(())
        })?;
        drop(tasks);
        for out in outputs {
            let out =
                out.ok_or_else(|| Error::invalid("simulate", "a client produced no output"))?;
            round.accept(&out?.update)?;
        }
        let (state, metrics) = round.finish()?;
        Ok(LearningProcessOutput { state, metrics })
    }
}

/// Ratings for W3: users become clients, split 0.8/0.1/0.1 after a seeded
/// shuffle of the users.
struct RatingsSplit {
    train: ClientData,
    val: ClientData,
    test: ClientData,
    num_items: usize,
    source: String,
}

fn ratings(flags: &Flags, seed: u64) -> Result<RatingsSplit> {
    let (clients, num_items, source) = match flags.get_opt::<String>("ratings")? {
        Some(path) => {
            let opts = MovieLensOptions {
                max_examples_per_user: Some(300),
            };
            let ml = data::load_movielens(std::path::Path::new(&path), &opts)?;
            (ml.clients, ml.num_items, path)
        }
        None => {
            // MovieLens 100K's shape: 943 users, 1682 items, ~106 ratings each.
            let cfg = SyntheticRatings {
                num_users: 943,
                num_items: 1682,
                rank: 8,
                ratings_per_user: 106,
                noise_std: 0.5,
                seed: 0,
            };
            let d = synthetic_ratings(&cfg)?;
            (
                d.clients,
                cfg.num_items,
                format!(
                    "synthetic ratings (943 users, 1682 items, rank 8, noise std {})",
                    cfg.noise_std
                ),
            )
        }
    };
    let mut ids = clients.client_ids();
    Rng::new(seed).shuffle(&mut ids);
    let n = ids.len();
    let (a, b) = ((n as f64 * 0.8) as usize, (n as f64 * 0.9) as usize);
    let part = |range: &[String]| {
        let keep: std::collections::BTreeSet<&str> = range.iter().map(String::as_str).collect();
        clients.retain_clients(|id| keep.contains(id))
    };
    Ok(RatingsSplit {
        train: part(&ids[..a]),
        val: part(&ids[a..b]),
        test: part(&ids[b..]),
        num_items,
        source,
    })
}

/// W3: Federated Reconstruction (or stateful clients) on ratings, then
/// FedReconEval on the test users.
fn recommendation(k: &Knobs, flags: &Flags, b: Rc<dyn Backend>) -> Result<()> {
    let split = ratings(flags, k.seed)?;
    let spec = builtin::matrix_factorization(split.num_items, k.dim);
    let model_fn = federated::model_fn(spec);
    emit(serde_json::json!({
        "workload": "w3",
        "data": split.source,
        "train_clients": split.train.num_clients(),
        "val_clients": split.val.num_clients(),
        "test_clients": split.test.num_clients(),
        "items": split.num_items,
        "process": if k.stateful { "stateful_fed_avg" } else { "fed_recon" },
        "backend": b.info().adapter,
    }));
    let (batch, epochs, seed) = (k.batch, k.epochs, k.seed);
    let prep = move |ds: Dataset| ds.repeat(epochs).shuffle(300, seed).batch(batch, false);
    let per_round = k.clients.unwrap_or(split.train.num_clients());
    let weights = if k.stateful {
        let process = build_stateful_fed_avg(
            model_fn.clone(),
            b.clone(),
            StatefulConfig {
                client_optimizer: OptimizerConfig::sgd(k.client_lr),
                local_optimizer: OptimizerConfig::sgd(k.recon_lr),
                server_optimizer: OptimizerConfig::sgd(k.server_lr),
                client_weighting: ClientWeighting::NumExamples,
                seed,
            },
        )?;
        let all_ids = split.train.client_ids();
        let mut store: BTreeMap<u64, ClientState> = BTreeMap::new();
        let mut state = pollster::block_on(process.initialize())?;
        for round in 0..k.rounds {
            let picks = federated::sample_clients(all_ids.len(), per_round, seed, round)?;
            let ids: Vec<String> = picks.iter().map(|&i| all_ids[i].clone()).collect();
            let clients = federated::client_datasets(&split.train, &ids, prep)?;
            let mut states = Vec::with_capacity(picks.len());
            for &i in &picks {
                states.push(match store.get(&(i as u64)) {
                    Some(s) => s.clone(),
                    None => pollster::block_on(process.initial_client_state(i as u64))?,
                });
            }
            let t0 = Instant::now();
            let out = pollster::block_on(process.next(&state, &clients, &states))?;
            let secs = t0.elapsed().as_secs_f64();
            for s in out.client_states {
                store.insert(s.index, s);
            }
            emit_round(round, secs, &out.metrics)?;
            state = out.state;
        }
        process.get_model_weights(&state)?
    } else {
        let process = build_fed_recon(
            model_fn.clone(),
            b.clone(),
            FedReconConfig {
                reconstruction: ReconstructionConfig {
                    reconstruction_optimizer: OptimizerConfig::sgd(k.recon_lr),
                    client_optimizer: OptimizerConfig::sgd(k.client_lr),
                    split: ReconstructionSplit {
                        split_dataset: true,
                        ..ReconstructionSplit::default()
                    },
                },
                server_optimizer: OptimizerConfig::sgd(k.server_lr),
                client_weighting: ClientWeighting::NumExamples,
                seed,
            },
        )?;
        let mut state = pollster::block_on(process.initialize())?;
        for round in 0..k.rounds {
            let ids = federated::sample_client_ids(&split.train, per_round, seed, round)?;
            let clients = federated::client_datasets(&split.train, &ids, prep)?;
            let t0 = Instant::now();
            let out = pollster::block_on(process.next(&state, &clients))?;
            let secs = t0.elapsed().as_secs_f64();
            emit_round(round, secs, &out.metrics)?;
            state = out.state;
        }
        process.get_model_weights(&state)?
    };
    // FedReconEval on every test user: reconstruct the user vector from the
    // even batches, score the odd ones.
    let evaluator = build_fed_recon_eval(
        model_fn,
        b,
        FedReconEvalConfig {
            reconstruction_optimizer: OptimizerConfig::sgd(k.recon_lr),
            seed,
            ..FedReconEvalConfig::default()
        },
    )?;
    let t0 = Instant::now();
    let eval_state = pollster::block_on(evaluator.initialize())?;
    let eval_state = evaluator.set_model_weights(&eval_state, weights)?;
    let test_ids = split.test.client_ids();
    let clients = federated::client_datasets(&split.test, &test_ids, |ds| {
        ds.shuffle(300, seed).batch(batch, false)
    })?;
    let out = pollster::block_on(evaluator.next(&eval_state, &clients))?;
    let mse = out.metrics.eval(MetricKind::MeanSquaredError);
    emit(serde_json::json!({
        "evaluation": "test",
        "round": k.rounds,
        "seconds": t0.elapsed().as_secs_f64(),
        "rmse": mse.map(f64::sqrt),
        "metrics": metrics_json(&out.metrics)?,
    }));
    Ok(())
}
