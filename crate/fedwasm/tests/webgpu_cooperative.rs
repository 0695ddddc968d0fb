//! Cooperative passes on WebGPU (natively on llvmpipe, as wasm in headless
//! Chromium): divergence is named as on the CPU while a pass still reads
//! back once; progress counts every batch without reading back (no running
//! loss), and a finished client reports its loss; and, in the browser, a
//! pass yields to the page's event loop (a `MessageChannel` task there).

mod common;
use common::coop::{digits, softmax_pass};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::rc::Rc;

use fedwasm::backend::webgpu::WebGpuBackend;
use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::data::{femnist_digits, Dataset, DatasetPlan};
use fedwasm::federated::{
    self, build_weighted_fed_avg, client_update_with, ClientWeighting, FedAvgConfig, RoundOptions,
    RoundProgress,
};
use fedwasm::model::builtin;
use fedwasm::optim::OptimizerConfig;
use fedwasm::train::{Controls, Progress, TrainOptions};
use fedwasm::Error;

/// `(epoch, batch)` of a divergence error.
fn where_it_diverged(e: &Error) -> (u64, u64) {
    match e {
        Error::Diverged { epoch, batch, .. } => (*epoch, *batch),
        other => panic!("expected Diverged, got {other}"),
    }
}

fn three_clients() -> Vec<Dataset> {
    let (train, _) = femnist_digits().unwrap();
    let ids = train.client_ids();
    federated::client_datasets(&train, &ids[..3], |ds| {
        ds.repeat(2).shuffle(100, 7).batch(20, false)
    })
    .unwrap()
}

// add_count_finite (what training counts diverging batches with): NaNs of
// several payloads, both infinities, f32::MAX, subnormals and zeros, at
// sizes around and past a workgroup (256); GPU and CPU agree exactly with
// the count made here, added to what the counter held.
//
// lr 1e34 (the loss sum passes f32::MAX) and 1e36 (a non-finite batch
// loss): the GPU names the CPU's epoch and batch, reading back once.
gpu_tests! {
    async fn add_count_finite_matches_the_cpu_on_special_values(b: &WebGpuBackend) {
        let special = [
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7f80_0001),
            f32::from_bits(0xffc0_1234),
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            0.0,
            -0.0,
            1.5,
        ];
        let cpu = CpuBackend::new();
        for n in [0usize, 1, 13, 255, 256, 257, 1_000] {
            let data: Vec<f32> = (0..n).map(|i| special[(i * 7 + n) % special.len()]).collect();
            let want = 5.0 + data.iter().filter(|v| v.is_finite()).count() as f32;
            let (g, c) = common::gpu::both(b, &[n], &data);
            let (mut gc, mut cc) = common::gpu::both(b, &[1], &[5.0]);
            b.add_count_finite(&mut gc, &g).unwrap();
            cpu.add_count_finite(&mut cc, &c).unwrap();
            assert_eq!(common::gpu::read(b, &gc).await, vec![want], "GPU, {n} elements");
            assert_eq!(cc.to_f32_vec(), vec![want], "CPU, {n} elements");
        }
    }

    async fn divergence_names_the_cpus_epoch_and_batch_in_one_read_back(
        b: &WebGpuBackend
    ) {
        let data = digits();
        for lr in [1e34f32, 1e36] {
            let opts = || TrainOptions {
                epoch: 1,
                ..TrainOptions::default()
            };
            let cpu = softmax_pass(&CpuBackend::new(), &data, lr, opts())
                .await
                .unwrap_err();
            let before = b.read_backs();
            let gpu = softmax_pass(b, &data, lr, opts()).await.unwrap_err();
            assert_eq!(b.read_backs() - before, 1, "lr {lr}: one read-back");
            assert_eq!(
                where_it_diverged(&gpu),
                where_it_diverged(&cpu),
                "lr {lr}: {gpu} vs {cpu}"
            );
            assert_eq!(gpu.code(), "diverged");
        }
        // A pass that stays finite reads back once too, and reports no error.
        let before = b.read_backs();
        softmax_pass(b, &data, 0.02, TrainOptions::default())
            .await
            .unwrap();
        assert_eq!(b.read_backs() - before, 1);
    }
}

async_tests! {
    progress_counts_every_batch_without_reading_back => progress_counts,
}

/// A client on the GPU reports each of its batches (no running loss: that
/// would be a read-back per report) and still reads back once; a round's
/// finished-client reports carry the loss from the metrics.
async fn progress_counts() {
    let gpu = common::gpu::backend().await;
    let as_dyn: Rc<dyn Backend> = gpu.clone();
    let process = build_weighted_fed_avg(
        federated::model_fn(builtin::softmax_regression()),
        as_dyn.clone(),
        FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.02)),
        ClientWeighting::NumExamples,
    )
    .unwrap();
    let clients = three_clients();
    let s0 = process.initialize().await.unwrap();
    let round = process.begin_round(&s0).unwrap();
    let mut model = process.new_model().unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    let mut record = |p: Progress| seen.push(p);
    let controls = Controls {
        progress: Some(&mut record),
        ..Controls::default()
    };
    let before = gpu.read_backs();
    let data = &clients[0];
    let task = round.task(0, DatasetPlan::new());
    client_update_with(as_dyn.as_ref(), model.as_mut(), &task, data, None, controls)
        .await
        .unwrap();
    assert_eq!(gpu.read_backs() - before, 1, "one read-back for the client");
    let batches = data.cardinality().unwrap() as u64;
    assert_eq!(seen.len() as u64, batches);
    assert!(
        seen.iter().all(|p| p.loss.is_none()),
        "no running loss on the GPU"
    );
    let examples: u64 = data
        .batches()
        .unwrap()
        .map(|b| b.unwrap().size() as u64)
        .sum();
    assert_eq!(seen.last().unwrap().examples, examples);

    let mut finished: Vec<RoundProgress> = Vec::new();
    let mut record = |p: RoundProgress| {
        if p.client_finished {
            finished.push(p)
        }
    };
    let opts = RoundOptions {
        progress: Some(&mut record),
        ..RoundOptions::default()
    };
    process.next_with(&s0, &clients, opts).await.unwrap();
    assert_eq!(finished.len(), 3);
    for (i, p) in finished.iter().enumerate() {
        assert_eq!((p.client, p.clients_done), (i, i + 1));
        let batches = clients[i].cardinality().unwrap() as u64;
        assert_eq!(p.client_progress.batches, batches);
        assert!(p.client_progress.loss.is_some_and(f64::is_finite), "{p:?}");
    }
}

/// In the browser a yield is a task of the page's event loop.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn passes_yield_to_the_browsers_event_loop() {
    common::coop::check_that_passes_yield_to_the_event_loop().await;
}
