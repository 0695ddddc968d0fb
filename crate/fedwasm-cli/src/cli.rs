//! The `fedwasm` command line.
//!
//! ```text
//! fedwasm train [--model cnn|softmax] [--epochs N] [--batch N] [--lr X] [--seed S]
//!               [--data DIR] [--writers N] [--json]
//! fedwasm bench train --model softmax|cnn [--batch N] [--examples N] [--epochs N] [--json]
//! fedwasm bench recon [--clients N] [--rounds N] [--json]
//! fedwasm bench matmul [--sizes 256,512,1024] [--runs N] [--json]
//! fedwasm bench fuzz [--cases N] [--decoder NAME] [--seed S] [--json]
//! fedwasm reference-run [--seed S]
//! fedwasm simulate --workload w1|w2|w3 [flags]   (see simulate.rs)
//! ```
//! `train` (default: `cnn_dropout`, 5 epochs of SGD 0.1, batch 20) trains on
//! the embedded FEMNIST digits of 10 writers (or on a LEAF
//! directory with `train/` and `test/` given by `--data`), printing one line
//! per epoch, then evaluates on the same writers' test data. A loss that
//! becomes NaN or infinite ends it with an error naming the epoch and batch
//! (both counted from 0) and exit status 1.
//!
//! `bench fuzz` mutates valid inputs of every decoder of untrusted bytes
//! (`fedwasm::fuzz::targets`, default 1,000,000 cases each) under lowered
//! limits, prints per decoder the cases, panics, largest allocation,
//! allocations over the limits and seconds, and exits non-zero on any panic
//! or over-limit allocation; `--decoder NAME --case C [--dump FILE]` reruns
//! one case.

use std::collections::BTreeMap;
use std::process::ExitCode;

use fedwasm::backend::webgpu::GpuContext;
use fedwasm::backend::{self, Backend, BackendChoice};
use fedwasm::bench::{
    run_matmul_bench, run_recon_bench, run_train_bench, BenchModel, ReconBench, TrainBench,
};
use fedwasm::data::{self, ClientData, Dataset};
use fedwasm::error::{Error, Result};
use fedwasm::metrics::MetricKind;
use fedwasm::model::{builtin, GraphModel, Model, VariableGroup};
use fedwasm::optim::OptimizerConfig;
use fedwasm::train::{evaluate, optimizer_for, train_local, TrainOptions};

/// `--flag value` pairs and bare `--flag`s after the subcommand.
pub(crate) struct Flags(pub(crate) BTreeMap<String, Option<String>>);

impl Flags {
    pub(crate) fn parse(args: &[String], known: &[&str], switches: &[&str]) -> Result<Self> {
        let mut map = BTreeMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a.strip_prefix("--").ok_or_else(|| {
                Error::invalid("command line", format!("unexpected argument {a:?}"))
            })?;
            if switches.contains(&name) {
                map.insert(name.to_string(), None);
            } else if known.contains(&name) {
                let v = it.next().ok_or_else(|| {
                    Error::invalid("command line", format!("--{name} needs a value"))
                })?;
                map.insert(name.to_string(), Some(v.clone()));
            } else {
                return Err(Error::invalid(
                    "command line",
                    format!("unknown flag --{name}"),
                ));
            }
        }
        Ok(Flags(map))
    }

    pub(crate) fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        Ok(self.get_opt(name)?.unwrap_or(default))
    }

    /// The value of `--name`, if given.
    pub(crate) fn get_opt<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        match self.0.get(name) {
            Some(Some(v)) => v.parse().map(Some).map_err(|_| {
                Error::invalid("command line", format!("bad value {v:?} for --{name}"))
            }),
            _ => Ok(None),
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// Runs the command line given by the process arguments.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(text) = crate::help::requested(&args) {
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    let result = match args.first().map(String::as_str) {
        Some("train") => train(&args[1..]),
        Some("bench") if args.get(1).map(String::as_str) == Some("train") => bench(&args[2..]),
        Some("bench") if args.get(1).map(String::as_str) == Some("recon") => {
            bench_recon(&args[2..])
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("matmul") => {
            bench_matmul(&args[2..])
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("fuzz") => bench_fuzz(&args[2..]),
        Some("reference-run") => reference_run(&args[1..]),
        Some("simulate") => pick_backend().and_then(|b| crate::simulate::simulate(&args[1..], b)),
        Some("--help" | "-h" | "help") => {
            println!("{}", crate::help::overview());
            Ok(())
        }
        _ => Err(Error::invalid(
            "command line",
            format!("unknown command\n{}", crate::help::overview()),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Error::Diverged { epoch, .. } = e {
                eprintln!(
                    "(epochs and batches count from 0 here: epoch {epoch} is the line \"epoch {}\")",
                    epoch + 1
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn pick_backend() -> Result<Box<dyn Backend>> {
    pollster::block_on(backend::select(BackendChoice::from_env()?))
}

fn load_data(flags: &Flags) -> Result<(ClientData, ClientData, String)> {
    match flags.0.get("data") {
        Some(Some(dir)) => {
            let writers = flags.get("writers", 10usize)?;
            let opts = data::LeafOptions {
                digits_only: true,
                max_clients: None,
                ..data::LeafOptions::default()
            };
            let dir = std::path::Path::new(dir);
            let train = data::load_leaf_dir(&dir.join("train"), &opts)?.take_clients(writers);
            let ids = train.client_ids();
            let test = data::load_leaf_dir(&dir.join("test"), &opts)?
                .retain_clients(|id| ids.iter().any(|w| w == id));
            Ok((
                train,
                test,
                format!("{} (first {writers} writers, digits)", dir.display()),
            ))
        }
        _ => {
            let (train, test) = data::femnist_digits()?;
            Ok((train, test, "embedded FEMNIST digits of 10 writers".into()))
        }
    }
}

fn train(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        args,
        &["model", "epochs", "batch", "lr", "seed", "data", "writers"],
        &["json"],
    )?;
    let model_kind: BenchModel = flags.get("model", BenchModel::Cnn)?;
    let epochs = flags.get("epochs", 5usize)?;
    let batch = flags.get("batch", 20usize)?;
    let seed = flags.get("seed", 1u64)?;
    let lr = flags.get(
        "lr",
        match model_kind {
            BenchModel::Softmax => 0.02f32,
            BenchModel::Cnn => 0.1,
        },
    )?;
    let json = flags.has("json");
    let b = pick_backend()?;
    let (train_data, test_data, source) = load_data(&flags)?;
    let spec = match model_kind {
        BenchModel::Softmax => builtin::softmax_regression(),
        BenchModel::Cnn => builtin::cnn_dropout(10),
    };
    let mut model = GraphModel::new(spec, b.as_ref(), seed)?;
    let n = train_data.num_examples();
    if !json {
        println!(
            "training {} ({} parameters) on {source}: {n} examples, backend {}",
            model.name(),
            model.num_parameters(),
            b.info().adapter
        );
    }
    let examples = std::sync::Arc::new(train_data.merged());
    let test_ds = Dataset::from_examples(test_data.merged()).batch(batch, false);
    let groups = [VariableGroup::GlobalTrainable];
    let mut opt = optimizer_for(b.as_ref(), &model, &groups, OptimizerConfig::sgd(lr))?;
    for epoch in 1..=epochs {
        let t0 = std::time::Instant::now();
        let opts = TrainOptions {
            seed,
            first_step: (epoch as u32) << 16,
            // The library counts epochs from 0; these lines from 1.
            epoch: epoch as u64 - 1,
            ..TrainOptions::default()
        };
        // A fresh shuffle each epoch, seeded by (seed, epoch).
        let ds = Dataset::from_arc(examples.clone())
            .shuffle(n.max(1), seed.wrapping_add(epoch as u64))
            .batch(batch, false);
        let m = pollster::block_on(train_local(
            b.as_ref(),
            &mut model,
            &mut opt,
            &ds,
            &groups,
            opts,
        ))?;
        let loss = m.value(MetricKind::Loss).unwrap_or(f64::NAN);
        let acc = m
            .value(MetricKind::SparseCategoricalAccuracy)
            .unwrap_or(f64::NAN);
        let secs = t0.elapsed().as_secs_f64();
        if json {
            println!(
                r#"{{"epoch":{epoch},"seconds":{secs:.4},"loss":{loss:.6},"accuracy":{acc:.6}}}"#
            );
        } else {
            println!("epoch {epoch:>3}: loss {loss:.4}  accuracy {acc:.4}  ({secs:.2} s)");
        }
    }
    let train_eval_ds = Dataset::from_arc(examples).batch(batch, false);
    for (name, ds) in [("train", &train_eval_ds), ("test", &test_ds)] {
        let m = pollster::block_on(evaluate(b.as_ref(), &model, ds))?;
        let loss = m.value(MetricKind::Loss).unwrap_or(f64::NAN);
        let acc = m
            .value(MetricKind::SparseCategoricalAccuracy)
            .unwrap_or(f64::NAN);
        let count = m.value(MetricKind::NumExamples).unwrap_or(0.0);
        if json {
            println!(
                r#"{{"eval":"{name}","examples":{count},"loss":{loss:.6},"accuracy":{acc:.6}}}"#
            );
        } else {
            println!("evaluation on {name} ({count} examples): loss {loss:.4}  accuracy {acc:.4}");
        }
    }
    Ok(())
}

fn bench(args: &[String]) -> Result<()> {
    let flags = Flags::parse(args, &["model", "batch", "examples", "epochs"], &["json"])?;
    let model: BenchModel = flags.get("model", BenchModel::Softmax)?;
    let config = TrainBench {
        model,
        batch: flags.get("batch", 20usize)?,
        examples: flags.get(
            "examples",
            match model {
                BenchModel::Softmax => 10_000usize,
                BenchModel::Cnn => 1_000,
            },
        )?,
        epochs: flags.get("epochs", 3usize)?,
    };
    let b = pick_backend()?;
    let r = pollster::block_on(run_train_bench(b.as_ref(), &config))?;
    if flags.has("json") {
        println!("{}", serde_json::to_string(&r).expect("results serialise"));
    } else {
        println!(
            "{:?} batch {}: epoch of {} examples in {:.1} ms = {:.0} examples/s, {:.2} GFLOP/s \
             ({:.0}% of the {:.2} GFLOP/s sgemm rate) on {}",
            r.config.model,
            r.config.batch,
            r.config.examples,
            r.epoch_seconds * 1e3,
            r.examples_per_second,
            r.gflops,
            100.0 * r.fraction_of_gemm,
            r.gemm_gflops,
            r.backend.adapter
        );
    }
    Ok(())
}

fn bench_recon(args: &[String]) -> Result<()> {
    let flags = Flags::parse(args, &["clients", "rounds"], &["json"])?;
    let defaults = ReconBench::default();
    let config = ReconBench {
        clients: flags.get("clients", defaults.clients)?,
        rounds: flags.get("rounds", defaults.rounds)?,
        ..defaults
    };
    let b = pick_backend()?;
    let r = pollster::block_on(run_recon_bench(b.as_ref(), &config))?;
    if flags.has("json") {
        println!("{}", serde_json::to_string(&r).expect("results serialise"));
    } else {
        println!(
            "reconstruction round, {} clients: {:.2} ms (median of {}; best {:.2}, worst {:.2}; \
             {:.2} ms in reconstruct_and_train) = {:.0} example-steps/s ({} examples in {} steps; \
             delta of {} floats per client) on {}",
            r.config.clients,
            r.round_seconds * 1e3,
            r.config.rounds,
            r.best_round_seconds * 1e3,
            r.worst_round_seconds * 1e3,
            r.train_seconds * 1e3,
            r.example_steps_per_second,
            r.example_steps,
            r.steps,
            r.global_floats,
            r.backend.adapter
        );
    }
    Ok(())
}

fn bench_matmul(args: &[String]) -> Result<()> {
    let flags = Flags::parse(args, &["sizes", "runs"], &["json"])?;
    let sizes = flags
        .get("sizes", "256,512,1024".to_string())?
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| Error::invalid("command line", format!("bad size {s:?} in --sizes")))
        })
        .collect::<Result<Vec<_>>>()?;
    let runs = flags.get("runs", 5usize)?;
    let ctx = pollster::block_on(GpuContext::new())?;
    let r = pollster::block_on(run_matmul_bench(&ctx, &sizes, runs))?;
    if flags.has("json") {
        println!("{}", serde_json::to_string(&r).expect("results serialise"));
    } else {
        println!(
            "square sgemm, median of {} runs; WebGPU on {}; CPU backend on the host",
            r.runs, r.adapter
        );
        println!(
            "{:>6}  {:>10}  {:>14}  {:>10}  {:>11}",
            "n", "webgpu ms", "webgpu GFLOP/s", "cpu ms", "cpu GFLOP/s"
        );
        for row in &r.rows {
            println!(
                "{:>6}  {:>10.2}  {:>14.2}  {:>10.2}  {:>11.2}",
                row.n,
                row.webgpu_seconds * 1e3,
                row.webgpu_gflops,
                row.cpu_seconds * 1e3,
                row.cpu_gflops
            );
        }
    }
    Ok(())
}

/// Bytes in a human unit.
fn human_bytes(b: u64) -> String {
    match b {
        0..1024 => format!("{b} B"),
        1024..1_048_576 => format!("{:.1} KiB", b as f64 / 1024.0),
        _ => format!("{:.1} MiB", b as f64 / 1_048_576.0),
    }
}

fn bench_fuzz(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        args,
        &["cases", "decoder", "seed", "case", "dump"],
        &["json"],
    )?;
    let config =
        fedwasm::fuzz::FuzzConfig::new(flags.get("cases", 1_000_000u64)?, flags.get("seed", 1u64)?);
    let mut targets = fedwasm::fuzz::targets();
    if let Some(name) = flags.get_opt::<String>("decoder")? {
        let names: Vec<&str> = targets.iter().map(|t| t.name()).collect();
        if !names.contains(&name.as_str()) {
            return Err(Error::invalid(
                "command line",
                format!("unknown decoder {name:?}; decoders: {}", names.join(", ")),
            ));
        }
        targets.retain(|t| t.name() == name);
    }
    if let Some(case) = flags.get_opt::<u64>("case")? {
        let [target] = &targets[..] else {
            return Err(Error::invalid(
                "command line",
                "--case needs --decoder NAME",
            ));
        };
        return fuzz_one_case(target, &config, case, flags.get_opt("dump")?);
    }
    let json = flags.has("json");
    if !json {
        let l = config.limits;
        println!(
            "fuzzing {} decoder(s), {} cases each, seed {}, under limits: {} message bytes, \
             {} tensor elements, {} model parameters, {} examples per client; \
             one allocation over {} counts as over the limits",
            targets.len(),
            config.cases,
            config.seed,
            l.max_message_bytes,
            l.max_tensor_elements,
            l.max_model_parameters,
            l.max_examples_per_client,
            human_bytes(config.max_alloc_bytes)
        );
    }
    let mut failed = Vec::new();
    for target in &targets {
        let r = fedwasm::fuzz::run(target, &config);
        if json {
            println!("{}", serde_json::to_string(&r).expect("reports serialise"));
        } else {
            let errors: Vec<String> = r.errors.iter().map(|(c, n)| format!("{c} {n}")).collect();
            println!(
                "{:<22} {:>9} cases  {:>3} panics  max allocation {:>9}  {:>3} over the limits  \
                 {:>7.1} s  (accepted {}, refused: {}; slowest case {:.2} ms)",
                r.decoder,
                r.cases,
                r.panics,
                human_bytes(r.max_alloc_bytes),
                r.over_limit_allocs,
                r.seconds,
                r.accepted,
                errors.join(", "),
                r.slowest_case_ms
            );
        }
        if !r.passed() {
            let mut why = Vec::new();
            if let Some(p) = &r.first_panic {
                why.push(format!("first panic at case {}: {}", p.case, p.detail));
            }
            if let Some(o) = &r.first_over_limit {
                why.push(format!("first over-limit case {}: {}", o.case, o.detail));
            }
            if !r.allocations_counted {
                why.push("allocations were not counted (no CountingAlloc)".into());
            }
            why.extend(r.seeds_refused.iter().cloned());
            failed.push(format!("{}: {}", r.decoder, why.join("; ")));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(
            "bench fuzz",
            format!(
                "{} decoder(s) failed (rerun one with --decoder NAME --seed {}):\n  {}",
                failed.len(),
                config.seed,
                failed.join("\n  ")
            ),
        ))
    }
}

/// `bench fuzz --decoder NAME --case C [--dump FILE]`: decodes one case
/// under the run's limits, printing its outcome and time, and writes its
/// input to FILE.
fn fuzz_one_case(
    target: &fedwasm::fuzz::Target,
    config: &fedwasm::fuzz::FuzzConfig,
    case: u64,
    dump: Option<String>,
) -> Result<()> {
    let max_bytes = usize::try_from(config.limits.max_message_bytes).unwrap_or(usize::MAX);
    let input = fedwasm::fuzz::case_input(target, config.seed, case, max_bytes);
    if let Some(path) = dump {
        std::fs::write(&path, &input).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
    }
    let previous = config.limits.set();
    let t0 = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.decode(&input)));
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    previous.set();
    let what = match outcome {
        Ok(Ok(())) => "accepted".to_string(),
        Ok(Err(e)) => format!("refused ({}): {e}", e.code()),
        Err(_) => "panicked".to_string(),
    };
    println!(
        "{} case {case} (seed {}), {} bytes: {what} in {ms:.3} ms",
        target.name(),
        config.seed,
        input.len()
    );
    Ok(())
}

fn reference_run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(args, &["seed"], &[])?;
    let digest = pollster::block_on(fedwasm::reference::reference_run(flags.get("seed", 1u64)?))?;
    println!(
        "{}",
        serde_json::to_string(&digest).expect("digests serialise")
    );
    Ok(())
}
