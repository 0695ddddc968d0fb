//! Cooperative passes on the CPU backend, natively and in wasm32 under Node:
//! progress counts, yields (natively: `Pending`s; in wasm: JS timers that
//! fire mid-pass), cancellation between batches (a cancelled round changes
//! nothing, and the round after it equals an uninterrupted one), and
//! divergence named by epoch and batch.

mod common;
use common::coop::{digits, softmax_pass, DIGIT_BATCHES, DIGIT_EXAMPLES};

use std::cell::Cell;
use std::rc::Rc;

use fedwasm::backend::CpuBackend;
use fedwasm::data::{femnist_digits, synthetic_ratings, Dataset, SyntheticRatings};
use fedwasm::federated::{
    self, build_fed_recon, build_weighted_fed_avg, ClientWeighting, FedAvgConfig, FedReconConfig,
    LearningProcess, RoundOptions, RoundProgress,
};
use fedwasm::metrics::{MetricKind, UnfinalizedMetrics};
use fedwasm::model::{builtin, GraphModel};
use fedwasm::optim::OptimizerConfig;
use fedwasm::train::{
    evaluate_with, reconstruct_and_train_with, CancelToken, Controls, Divergence, Phase, Progress,
    ReconstructionConfig, TrainOptions,
};
use fedwasm::Error;

fn loss_of(m: &UnfinalizedMetrics) -> f64 {
    m.value(MetricKind::Loss).unwrap()
}

fn softmax_process() -> LearningProcess {
    build_weighted_fed_avg(
        federated::model_fn(builtin::softmax_regression()),
        Rc::new(CpuBackend::new()),
        FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.02)),
        ClientWeighting::NumExamples,
    )
    .unwrap()
}

/// Three writers' digits, two local epochs of batch 20: 11, 9 and 13 batches.
fn softmax_clients() -> Vec<Dataset> {
    let (train, _) = femnist_digits().unwrap();
    let ids = train.client_ids();
    federated::client_datasets(&train, &ids[..3], |ds| {
        ds.repeat(2).shuffle(100, 7).batch(20, false)
    })
    .unwrap()
}

const ITEMS: usize = 30;

/// FedRecon on 4 users' synthetic ratings, 24 each in batches of 4 (6 batches).
fn fed_recon_process() -> (LearningProcess, Vec<Dataset>) {
    let d = synthetic_ratings(&SyntheticRatings {
        num_users: 4,
        num_items: ITEMS,
        rank: 2,
        ratings_per_user: 24,
        noise_std: 0.1,
        seed: 3,
    })
    .unwrap();
    let ids = d.clients.client_ids();
    let clients =
        federated::client_datasets(&d.clients, &ids, |ds| ds.shuffle(100, 1).batch(4, false))
            .unwrap();
    let process = build_fed_recon(
        federated::model_fn(builtin::matrix_factorization(ITEMS, 3)),
        Rc::new(CpuBackend::new()),
        FedReconConfig::default(),
    )
    .unwrap();
    (process, clients)
}

fn cardinality(d: &Dataset) -> u64 {
    d.cardinality().expect("a finite dataset") as u64
}

fn examples_of(d: &Dataset) -> u64 {
    d.batches().unwrap().map(|b| b.unwrap().size() as u64).sum()
}

/// Every batch is reported once, in order; the last report counts the
/// dataset's batches and examples, and the running loss ends at the
/// pass's loss metric.
async fn progress_counts_equal_the_dataset() {
    let data = digits();
    let mut seen: Vec<Progress> = Vec::new();
    let mut record = |p: Progress| seen.push(p);
    let opts = TrainOptions {
        progress: Some(&mut record),
        ..TrainOptions::default()
    };
    let m = softmax_pass(&CpuBackend::new(), &data, 0.02, opts)
        .await
        .unwrap();
    assert_eq!(seen.len() as u64, DIGIT_BATCHES);
    for (i, p) in seen.iter().enumerate() {
        assert_eq!(p.batches, i as u64 + 1);
        assert_eq!(p.phase, Phase::Train);
        assert!(p.loss.is_some(), "the CPU has the loss of every batch");
    }
    let last = seen.last().unwrap();
    assert_eq!(last.examples, DIGIT_EXAMPLES);
    assert_eq!(
        m.value(MetricKind::NumExamples),
        Some(DIGIT_EXAMPLES as f64)
    );
    let (running, metric) = (last.loss.unwrap(), loss_of(&m));
    assert!(
        (running - metric).abs() <= 1e-5 * metric,
        "{running} vs {metric}"
    );

    // Evaluation reports the same counts, as Evaluate.
    let b = CpuBackend::new();
    let model = GraphModel::new(builtin::softmax_regression(), &b, 1).unwrap();
    let mut evals: Vec<Progress> = Vec::new();
    let mut record = |p: Progress| evals.push(p);
    let controls = Controls {
        progress: Some(&mut record),
        ..Controls::default()
    };
    evaluate_with(&b, &model, &data, controls).await.unwrap();
    assert_eq!(evals.len() as u64, DIGIT_BATCHES);
    assert!(evals.iter().all(|p| p.phase == Phase::Evaluate));
    assert_eq!(evals.last().unwrap().examples, DIGIT_EXAMPLES);
}

/// Reconstruction's two phases are counted together: the even batches
/// (reconstruction) and the odd ones (training) make the client's data.
async fn reconstruction_progress_covers_both_phases() {
    let b = CpuBackend::new();
    let (_, clients) = fed_recon_process();
    let data = &clients[0];
    let mut model = GraphModel::new(builtin::matrix_factorization(ITEMS, 3), &b, 1).unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    let mut record = |p: Progress| seen.push(p);
    let opts = TrainOptions {
        progress: Some(&mut record),
        ..TrainOptions::default()
    };
    let config = ReconstructionConfig::default();
    let m = reconstruct_and_train_with(&b, &mut model, &config, data, opts)
        .await
        .unwrap();
    let total = cardinality(data);
    assert_eq!(seen.len() as u64, total);
    assert_eq!(seen.last().unwrap().examples, examples_of(data));
    let recon = seen
        .iter()
        .take_while(|p| p.phase == Phase::Reconstruct)
        .count() as u64;
    assert_eq!(recon, total.div_ceil(2), "the even batches reconstruct");
    assert!(seen[recon as usize..]
        .iter()
        .all(|p| p.phase == Phase::Train));
    // The metrics are the second phase's (TFF's), the progress both.
    assert_eq!(m.value(MetricKind::NumBatches), Some((total / 2) as f64));
}

/// A round reports each client's batches, then the client as finished
/// with its loss; progress changes nothing in the result.
async fn round_progress_reports_every_batch_and_client() {
    let clients = softmax_clients();
    let process = softmax_process();
    let s0 = process.initialize().await.unwrap();
    let mut seen: Vec<RoundProgress> = Vec::new();
    let mut record = |p: RoundProgress| seen.push(p);
    let opts = RoundOptions {
        progress: Some(&mut record),
        ..RoundOptions::default()
    };
    let with = process.next_with(&s0, &clients, opts).await.unwrap();
    let plain = process.next(&s0, &clients).await.unwrap();
    assert_eq!(with, plain, "progress does not change the round");
    let mut at = 0;
    for (i, data) in clients.iter().enumerate() {
        let batches = cardinality(data);
        let mine: Vec<&RoundProgress> = seen[at..].iter().take_while(|p| p.client == i).collect();
        at += mine.len();
        assert_eq!(
            mine.len() as u64,
            batches + 1,
            "client {i}: each batch, then done"
        );
        for (k, p) in mine[..mine.len() - 1].iter().enumerate() {
            assert!(!p.client_finished);
            assert_eq!((p.clients_done, p.clients_total), (i, 3));
            assert_eq!(p.client_progress.batches, k as u64 + 1);
        }
        let done = mine.last().unwrap();
        assert!(done.client_finished);
        assert_eq!((done.clients_done, done.clients_total), (i + 1, 3));
        assert_eq!(done.client_progress.batches, batches);
        assert_eq!(done.client_progress.examples, examples_of(data));
        assert!(done.client_progress.loss.is_some_and(f64::is_finite));
    }
    assert_eq!(at, seen.len());
    let examples: u64 = clients.iter().map(examples_of).sum();
    assert_eq!(
        with.metrics.train(MetricKind::NumExamples),
        Some(examples as f64)
    );
}

/// Cancelled from its progress callback, a pass stops before the next
/// batch; a token cancelled beforehand stops it before the first.
async fn cancelling_stops_a_pass_before_the_next_batch() {
    let data = digits();
    let token = CancelToken::new();
    let mut batches = 0;
    let mut stop_at_5 = |p: Progress| {
        batches = p.batches;
        if p.batches == 5 {
            token.cancel();
        }
    };
    let opts = TrainOptions {
        progress: Some(&mut stop_at_5),
        cancel: Some(token.clone()),
        ..TrainOptions::default()
    };
    let err = softmax_pass(&CpuBackend::new(), &data, 0.02, opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cancelled { op: "train_local" }),
        "{err}"
    );
    assert_eq!(err.code(), "cancelled");
    assert_eq!(batches, 5, "no batch ran after the cancel");

    let mut ran = 0;
    let mut count = |_: Progress| ran += 1;
    let opts = TrainOptions {
        progress: Some(&mut count),
        cancel: Some(token),
        ..TrainOptions::default()
    };
    assert!(matches!(
        softmax_pass(&CpuBackend::new(), &data, 0.02, opts).await,
        Err(Error::Cancelled { .. })
    ));
    assert_eq!(ran, 0);
}

/// A round cancelled in its second client (FedAvg) or in the
/// reconstruction phase of its second client (FedRecon) returns
/// Cancelled; the state is untouched, and the next round on it equals
/// the round of a process that was never interrupted.
async fn a_cancelled_round_changes_nothing() {
    let (recon, recon_clients) = fed_recon_process();
    for (process, clients, fresh) in [
        (softmax_process(), softmax_clients(), softmax_process()),
        (recon, recon_clients, fed_recon_process().0),
    ] {
        let name = process.name();
        let s0 = process.initialize().await.unwrap();
        let before = s0.clone();
        let uninterrupted = fresh.next(&s0, &clients).await.unwrap();
        let token = CancelToken::new();
        let last = Cell::new(None);
        let mut cancel_in_client_1 = |p: RoundProgress| {
            last.set(Some((
                p.client,
                p.client_progress.batches,
                p.client_progress.phase,
            )));
            if p.client == 1 && p.client_progress.batches == 2 {
                token.cancel();
            }
        };
        let opts = RoundOptions {
            progress: Some(&mut cancel_in_client_1),
            cancel: Some(token.clone()),
            ..RoundOptions::default()
        };
        let err = process.next_with(&s0, &clients, opts).await.unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }), "{name}: {err}");
        let (client, batches, phase) = last.get().unwrap();
        assert_eq!(
            (client, batches),
            (1, 2),
            "{name}: stopped in client 1 after batch 2"
        );
        if name == "fed_recon" {
            assert_eq!(phase, Phase::Reconstruct, "cancelled while reconstructing");
        }
        assert_eq!(s0, before, "{name}: the state is unchanged");
        let again = process.next(&s0, &clients).await.unwrap();
        assert_eq!(again, uninterrupted, "{name}: the round after a cancel");
    }
}

/// lr 1e34 (zero init, SGD): the batch losses stay finite, but their
/// sum passes f32::MAX at some batch; lr 1e36: a batch loss is itself
/// non-finite. Either way the error names the epoch it was given and
/// the first batch whose loss metric would be non-finite, found here by
/// training on the first k batches for each k.
async fn divergence_names_epoch_and_batch() {
    let data = digits();
    for lr in [1e34f32, 1e36] {
        let mut first_bad = None;
        for k in 1..=DIGIT_BATCHES {
            let opts = TrainOptions {
                divergence: Divergence::Continue,
                ..TrainOptions::default()
            };
            let m = softmax_pass(&CpuBackend::new(), &data.take(k as usize), lr, opts)
                .await
                .unwrap();
            if !loss_of(&m).is_finite() {
                first_bad = Some(k - 1);
                break;
            }
        }
        let want = first_bad.expect("this rate diverges within an epoch");
        assert!(
            want >= 1,
            "the first batch (zero weights) has a finite loss"
        );
        let mut batches = 0;
        let mut count = |p: Progress| batches = p.batches;
        let opts = TrainOptions {
            epoch: 2,
            progress: Some(&mut count),
            ..TrainOptions::default()
        };
        let err = softmax_pass(&CpuBackend::new(), &data, lr, opts)
            .await
            .unwrap_err();
        match &err {
            Error::Diverged {
                op, epoch, batch, ..
            } => {
                assert_eq!(
                    (*op, *epoch, *batch),
                    ("train_local", 2, want),
                    "lr {lr}: {err}"
                );
            }
            other => panic!("lr {lr}: expected Diverged, got {other}"),
        }
        assert_eq!(err.code(), "diverged");
        assert!(
            err.to_string().contains(&format!("epoch 2, batch {want}")),
            "{err}"
        );
        assert_eq!(batches, want, "the CPU stops at the diverging batch");
        // Federated client work's setting: the pass ends, the loss is non-finite.
        let opts = TrainOptions {
            divergence: Divergence::Continue,
            ..TrainOptions::default()
        };
        let m = softmax_pass(&CpuBackend::new(), &data, lr, opts)
            .await
            .unwrap();
        assert!(!loss_of(&m).is_finite());
    }
}

/// A diverging reconstruction phase is named as such.
async fn a_diverging_reconstruction_names_its_phase() {
    let b = CpuBackend::new();
    let (_, clients) = fed_recon_process();
    let mut model = GraphModel::new(builtin::matrix_factorization(ITEMS, 3), &b, 1).unwrap();
    let config = ReconstructionConfig {
        reconstruction_optimizer: OptimizerConfig::sgd(1e30),
        ..ReconstructionConfig::default()
    };
    let err = reconstruct_and_train_with(
        &b,
        &mut model,
        &config,
        &clients[0],
        TrainOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Diverged {
                op: "reconstruct_and_train",
                epoch: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("reconstruction phase"), "{err}");
}

cpu_tests! {
    progress_counts_equal_the_dataset,
    reconstruction_progress_covers_both_phases,
    round_progress_reports_every_batch_and_client,
    cancelling_stops_a_pass_before_the_next_batch,
    a_cancelled_round_changes_nothing,
    divergence_names_epoch_and_batch,
    a_diverging_reconstruction_names_its_phase,
}

/// Natively a yield is one self-waking `Pending`: a pass of 39 batches
/// yields before batches 4, 8, .., 36 with `yield_every: 4` (9 times),
/// 4 times by default (every 8), never with 0; each time it wakes its
/// waker first, so any executor polls it again.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn native_passes_yield_every_n_batches() {
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let data = digits();
    for (every, yields) in [(4, 9), (fedwasm::train::DEFAULT_YIELD_EVERY, 4), (0, 0)] {
        let opts = TrainOptions {
            yield_every: every,
            ..TrainOptions::default()
        };
        let wakes = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let b = CpuBackend::new();
        let mut fut = std::pin::pin!(softmax_pass(&b, &data, 0.02, opts));
        let mut pending = 0;
        let m = loop {
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(m) => break m.unwrap(),
                Poll::Pending => pending += 1,
            }
        };
        assert_eq!(pending, yields, "yield_every {every}");
        assert_eq!(
            wakes.0.load(Ordering::Relaxed),
            yields,
            "woken at every yield"
        );
        assert_eq!(m.value(MetricKind::NumBatches), Some(DIGIT_BATCHES as f64));
    }
}

/// Natively the token is `Send + Sync`: another thread cancels a pass. The
/// progress callback waits at batch 3 until the other thread has cancelled,
/// so the pass must stop before batch 4.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn another_thread_cancels_a_pass() {
    let token = CancelToken::new();
    let remote = token.clone();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = reached.clone();
    let canceller = std::thread::spawn(move || {
        while !seen.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::yield_now();
        }
        remote.cancel();
    });
    let mut batches = 0;
    let mut wait_at_3 = |p: Progress| {
        batches = p.batches;
        if p.batches == 3 {
            reached.store(true, std::sync::atomic::Ordering::Release);
            while !token.is_cancelled() {
                std::thread::yield_now();
            }
        }
    };
    let opts = TrainOptions {
        progress: Some(&mut wait_at_3),
        cancel: Some(token.clone()),
        ..TrainOptions::default()
    };
    let err = common::ready(softmax_pass(&CpuBackend::new(), &digits(), 0.02, opts)).unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert_eq!(batches, 3);
}

/// In wasm a yield is a macrotask of the JS event loop (Node.js here:
/// `setImmediate`).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn wasm_passes_yield_to_the_js_event_loop() {
    common::coop::check_that_passes_yield_to_the_event_loop().await;
}

/// In wasm a JS timer (another task) cancels a pass while it yields.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn wasm_a_js_timer_cancels_a_pass() {
    // Long enough for several yields 16 ms apart (`train::MIN_YIELD_GAP_MS`).
    let data = digits().repeat(40);
    let token = CancelToken::new();
    {
        let token = token.clone();
        common::coop::set_timeout(move || token.cancel());
    }
    let batches = Cell::new(0u64);
    let mut record = |p: Progress| batches.set(p.batches);
    let opts = TrainOptions {
        yield_every: 1,
        progress: Some(&mut record),
        cancel: Some(token),
        ..TrainOptions::default()
    };
    let err = softmax_pass(&CpuBackend::new(), &data, 0.02, opts)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    let done = batches.get();
    assert!(
        done > 0 && done < 40 * DIGIT_BATCHES,
        "stopped after {done} batches"
    );
}
