//! The WebGPU backend's device memory stays flat (natively on llvmpipe, and
//! as wasm in headless Chromium, where a dropped buffer is freed only when
//! the garbage collector runs):
//!
//! * cnn_dropout (SGD, batch 1) and FedRecon's matrix factorisation (whole
//!   rounds: reconstruction, client training, server update): after a short
//!   warm-up that does each kind of work once (10 steps and their read-back;
//!   a round of 2 clients), 200 more training steps, counting live device
//!   buffers and bytes after every step (every client, for FedRecon): no
//!   buffer is created after the warm-up, and the live counts never exceed
//!   what they were at its end;
//! * the reuse rules that keep that correct: an upload never takes a buffer
//!   that recorded, unsubmitted work still reads, and kernel outputs may
//!   (the work stays in order either way); pooled buffers handed out as
//!   zeros, or as the output of a scatter that writes only some rows, are
//!   cleared; the pool's bound destroys what it does not keep.
//!
//! Each test makes its own backend, so the counters are its own.

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::rc::Rc;

use fedwasm::backend::webgpu::{MemoryStats, WebGpuBackend, DEFAULT_POOL_LIMIT};
use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::data::{
    femnist_digits, synthetic_ratings, Dataset, DatasetPlan, ReconstructionSplit, SyntheticRatings,
};
use fedwasm::federated::{self, build_fed_recon, client_update, ClientWeighting, FedReconConfig};
use fedwasm::model::{builtin, GraphModel, VariableGroup};
use fedwasm::optim::OptimizerConfig;
use fedwasm::train::{optimizer_for, train_local, Progress, ReconstructionConfig, TrainOptions};
use fedwasm::Tensor;

async_tests! {
    cnn_dropout_memory_is_flat_over_200_steps => cnn_dropout_steps,
    fed_recon_memory_is_flat_over_200_steps => fed_recon_steps,
    uploads_never_overwrite_what_pending_work_reads => upload_order,
    pooled_zeros_and_scatter_outputs_are_cleared => pooled_zeros,
    the_pool_bound_destroys_what_it_does_not_keep => pool_bound,
}

/// Steps of cnn_dropout's warm-up pass.
const WARM_UP: usize = 10;
/// Steps each training test runs after its warm-up (at least).
const STEPS: u64 = 200;

async fn gpu() -> Rc<WebGpuBackend> {
    Rc::new(WebGpuBackend::new().await.expect("a WebGPU adapter"))
}

/// Fails unless, after the warm-up (`samples[warm_up]`), no device buffer
/// was created and the live buffers and bytes never exceeded that sample's,
/// over at least [`STEPS`] steps; and unless buffers were actually reused
/// meanwhile. `samples` are `(steps done, stats)` in order.
fn assert_flat(what: &str, samples: &[(u64, MemoryStats)], warm_up: usize) {
    let last = samples.last().expect("samples");
    let base = &samples[warm_up];
    assert!(
        last.0 - base.0 >= STEPS,
        "{what}: only {} steps ran after the warm-up, want {STEPS}",
        last.0 - base.0
    );
    // The figures, for the record (`--nocapture`).
    #[cfg(not(target_arch = "wasm32"))]
    {
        let peak = |f: fn(&MemoryStats) -> u64| samples.iter().map(|(_, s)| f(s)).max().unwrap();
        println!(
            "{what}: after {} steps {} buffers / {} bytes live ({} pooled), {} created; \
             after {} steps {} buffers / {} bytes live ({} pooled), {} created, {} reused; \
             peak {} buffers / {} bytes",
            base.0,
            base.1.live_buffers,
            base.1.live_bytes,
            base.1.pooled_buffers,
            base.1.created_buffers,
            last.0,
            last.1.live_buffers,
            last.1.live_bytes,
            last.1.pooled_buffers,
            last.1.created_buffers,
            last.1.reused_buffers,
            peak(|s| s.live_buffers),
            peak(|s| s.live_bytes),
        );
    }
    let grew = samples[warm_up..].iter().find(|(_, s)| {
        s.created_buffers > base.1.created_buffers
            || s.live_buffers > base.1.live_buffers
            || s.live_bytes > base.1.live_bytes
    });
    if let Some((steps, s)) = grew {
        panic!(
            "{what}: device memory grew after step {}: at step {steps} {s:?}, at step {} {:?}",
            base.0, base.0, base.1
        );
    }
    let reused = last.1.reused_buffers - base.1.reused_buffers;
    assert!(
        reused >= last.0 - base.0,
        "{what}: only {reused} buffers reused in {} steps",
        last.0 - base.0
    );
}

/// cnn_dropout (both dropout layers draw new masks every step), SGD 0.02,
/// one FEMNIST digit per batch: a pass of [`WARM_UP`] steps, then one of
/// [`STEPS`]; one sample after every step and after each pass's read-back.
async fn cnn_dropout_steps() {
    let gpu = gpu().await;
    let b: &dyn Backend = gpu.as_ref();
    let (train, _) = femnist_digits().unwrap();
    let ids = train.client_ids();
    let data = federated::client_datasets(&train, &ids[..1], |ds| {
        ds.repeat(STEPS as usize).batch(1, true)
    })
    .unwrap()
    .remove(0);
    let mut model = GraphModel::new(builtin::cnn_dropout(10), b, 3).unwrap();
    let groups = [VariableGroup::GlobalTrainable];
    let mut opt = optimizer_for(b, &model, &groups, OptimizerConfig::sgd(0.02)).unwrap();
    let mut samples = vec![(0, gpu.memory_stats())];
    let mut warm_up = 0;
    let mut done = 0;
    for (pass, steps) in [WARM_UP, STEPS as usize].into_iter().enumerate() {
        let mut after_step = |p: Progress| samples.push((done + p.batches, gpu.memory_stats()));
        let opts = TrainOptions {
            seed: 7,
            first_step: done as u32,
            progress: Some(&mut after_step),
            ..TrainOptions::default()
        };
        let pass_data = data.skip(done as usize).take(steps);
        let metrics = train_local(b, &mut model, &mut opt, &pass_data, &groups, opts)
            .await
            .unwrap();
        assert!(!metrics.0.is_empty(), "training reported metrics");
        done += steps as u64;
        samples.push((done, gpu.memory_stats()));
        if pass == 0 {
            warm_up = samples.len() - 1;
        }
    }
    assert_flat("cnn_dropout", &samples, warm_up);
}

/// FedRecon rounds of matrix factorisation (6 batches per user, split
/// between reconstruction and training), driven client by client through
/// the public round API: a warm-up round of 2 users, then rounds of 20 of
/// the 40 users until [`STEPS`] more steps ran; one sample after every
/// client and after every round's server update.
async fn fed_recon_steps() {
    let gpu = gpu().await;
    let b: Rc<dyn Backend> = gpu.clone();
    let items = 60;
    let d = synthetic_ratings(&SyntheticRatings {
        num_users: 40,
        num_items: items,
        rank: 2,
        ratings_per_user: 30,
        noise_std: 0.3,
        seed: 5,
    })
    .unwrap();
    let ids = d.clients.client_ids();
    let clients =
        federated::client_datasets(&d.clients, &ids, |ds| ds.shuffle(300, 42).batch(5, false))
            .unwrap();
    let process = build_fed_recon(
        federated::model_fn(builtin::matrix_factorization(items, 4)),
        b.clone(),
        FedReconConfig {
            reconstruction: ReconstructionConfig {
                reconstruction_optimizer: OptimizerConfig::sgd(0.1),
                client_optimizer: OptimizerConfig::sgd(0.5),
                split: ReconstructionSplit {
                    split_dataset: true,
                    ..ReconstructionSplit::default()
                },
            },
            server_optimizer: OptimizerConfig::sgd(1.0),
            client_weighting: ClientWeighting::NumExamples,
            seed: 42,
        },
    )
    .unwrap();
    let mut state = process.initialize().await.unwrap();
    let mut steps = 0u64;
    let mut samples = vec![(0, gpu.memory_stats())];
    let mut warm_up = None;
    let mut next = 0;
    while warm_up.is_none_or(|w: usize| steps - samples[w].0 < STEPS) {
        let mut round = process.begin_round(&state).unwrap();
        let mut model = process.new_model().unwrap();
        let size = if warm_up.is_none() { 2 } else { 20 };
        let chosen: Vec<&Dataset> = (0..size)
            .map(|j| &clients[(next + j) % clients.len()])
            .collect();
        next += size;
        for (i, data) in chosen.into_iter().enumerate() {
            let task = round.task(i as u64, DatasetPlan::new());
            let out = client_update(b.as_ref(), model.as_mut(), &task, data, None)
                .await
                .unwrap();
            round.accept(&out.update).unwrap();
            steps += data.batches().unwrap().count() as u64;
            samples.push((steps, gpu.memory_stats()));
        }
        let (next_state, _) = round.finish().unwrap();
        state = next_state;
        samples.push((steps, gpu.memory_stats()));
        warm_up.get_or_insert(samples.len() - 1);
    }
    assert_flat(
        "FedRecon matrix factorisation",
        &samples,
        warm_up.expect("a round ran"),
    );
}

/// `relu(a)` is recorded, not submitted, when `a` drops: an upload of the
/// same size must not take `a`'s buffer (its write would run before the
/// recorded work and change what it reads), while a kernel output may (it
/// is written after). Both results must be exact.
async fn upload_order() {
    let b = gpu().await;
    let n = 4096;
    let va = common::gpu::values(n, 1);
    let vc = common::gpu::values(n, 2);
    let relu = |v: &[f32]| v.iter().map(|x| x.max(0.0)).collect::<Vec<f32>>();
    // Warm the pool up with a finished round trip of the same sizes.
    let warm = b.upload(&[n], &va).unwrap();
    b.read(&b.relu(&warm).unwrap()).await.unwrap();
    drop(warm);
    let reused = b.memory_stats().reused_buffers;

    let a = b.upload(&[n], &va).unwrap();
    let y = b.relu(&a).unwrap();
    drop(a);
    let c = b.upload(&[n], &vc).unwrap();
    let z = b.relu(&c).unwrap();
    drop(c);
    // An output recorded after relu(c): may take c's buffer at once.
    let w = b.add(&y, &z).unwrap();
    let got = b.read_tensors(&[&y, &z, &w]).await.unwrap();
    assert!(
        b.memory_stats().reused_buffers > reused,
        "the pool served these requests"
    );
    let (ry, rz) = (relu(&va), relu(&vc));
    let rw: Vec<f32> = ry.iter().zip(&rz).map(|(p, q)| p + q).collect();
    assert_eq!(got[0], ry, "relu(a): the upload of c did not overwrite a");
    assert_eq!(got[1], rz, "relu(c)");
    assert_eq!(got[2], rw, "relu(a) + relu(c)");
}

/// Buffers full of non-zero values go back to the pool; `zeros` and
/// `scatter_add_rows` (which writes only the looked-up rows) then get them
/// and must still give zeros where nothing was written.
async fn pooled_zeros() {
    let b = gpu().await;
    let cpu = CpuBackend::new();
    let (rows, k) = (64, 8);
    {
        let junk: Vec<Tensor> = (0..4)
            .map(|_| b.upload(&[rows, k], &vec![7.0; rows * k]).unwrap())
            .collect();
        let doubled: Vec<Tensor> = junk.iter().map(|t| b.add(t, t).unwrap()).collect();
        let refs: Vec<&Tensor> = doubled.iter().collect();
        b.read_tensors(&refs).await.unwrap();
    }
    let reused = b.memory_stats().reused_buffers;

    let z = b.zeros(&[rows, k]).unwrap();
    let dy = common::gpu::values(5 * k, 3);
    let ids = [3.0, 17.0, 3.0, 40.0, 63.0];
    let (gdy, cdy) = common::gpu::both(&b, &[5, k], &dy);
    let (gids, cids) = common::gpu::both(&b, &[5], &ids);
    let gs = b.scatter_add_rows(&gdy, &gids, rows).unwrap();
    let cs = cpu.scatter_add_rows(&cdy, &cids, rows).unwrap();
    assert!(
        b.memory_stats().reused_buffers >= reused + 2,
        "zeros and the scatter's output came from the pool"
    );
    let got = b.read_tensors(&[&z, &gs]).await.unwrap();
    assert_eq!(got[0], vec![0.0; rows * k], "zeros from the pool");
    assert_eq!(
        got[1],
        common::gpu::host(&cs),
        "scatter_add_rows into a pooled buffer"
    );
}

/// With a bound of 0 nothing stays pooled once its work is submitted; with
/// the default bound buffers stay for reuse until `trim_pool`.
async fn pool_bound() {
    let b = gpu().await;
    let run = |b: &WebGpuBackend| {
        let x = b.upload(&[1000], &common::gpu::values(1000, 4)).unwrap();
        let y = b.relu(&x).unwrap();
        b.add(&y, &x).unwrap()
    };
    assert_eq!(b.memory_stats().pool_limit_bytes, DEFAULT_POOL_LIMIT);
    let out = run(&b);
    b.read(&out).await.unwrap();
    drop(out);
    let kept = b.memory_stats();
    assert!(kept.pooled_buffers >= 3, "buffers stay pooled: {kept:?}");
    b.trim_pool();
    let trimmed = b.memory_stats();
    assert_eq!(trimmed.pooled_buffers, 0, "{trimmed:?}");
    assert_eq!(trimmed.pooled_bytes, 0, "{trimmed:?}");
    assert_eq!(
        trimmed.destroyed_buffers - kept.destroyed_buffers,
        kept.pooled_buffers,
        "trimming destroyed every pooled buffer"
    );

    assert_eq!(b.set_pool_limit(0), DEFAULT_POOL_LIMIT);
    let out = run(&b);
    b.read(&out).await.unwrap();
    drop(out);
    let s = b.memory_stats();
    assert_eq!(s.pooled_buffers, 0, "nothing kept with a bound of 0: {s:?}");
    assert!(s.destroyed_buffers > trimmed.destroyed_buffers, "{s:?}");
    assert_eq!(
        s.live_buffers,
        s.created_buffers - s.destroyed_buffers,
        "live = created - destroyed"
    );
}
