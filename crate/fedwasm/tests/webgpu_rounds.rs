//! Whole federated rounds on WebGPU against the same rounds on the CPU
//! (natively on llvmpipe, and as wasm in headless Chromium):
//!
//! * W1: one FedAvg round of the EMNIST tutorial (softmax regression, 10
//!   writers' digits from the embedded FEMNIST subset, 5 local epochs of
//!   batch 20, client SGD 0.02, server SGD 1.0);
//! * W3: one Federated Reconstruction round of matrix factorisation
//!   (synthetic ratings, user embeddings reconstructed on every client);
//! * a device lost in the middle of a client's training: that client reruns
//!   on the CPU, and the round equals the CPU round.
//!
//! "Equal" is 1e-4 relative: the norm of the difference of the global
//! weights over the norm of the CPU's, and the round's loss.

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::rc::Rc;

use fedwasm::backend::webgpu::WebGpuBackend;
use fedwasm::backend::{Backend, BackendKind, CpuBackend};
use fedwasm::data::{
    femnist_digits, synthetic_ratings, Dataset, DatasetPlan, ReconstructionSplit, SyntheticRatings,
};
use fedwasm::federated::{
    self, build_fed_recon, build_weighted_fed_avg, client_update, ClientWeighting, FedAvgConfig,
    FedReconConfig, LearningProcess, LearningProcessOutput, ModelWeights,
};
use fedwasm::metrics::MetricKind;
use fedwasm::model::builtin;
use fedwasm::optim::OptimizerConfig;
use fedwasm::train::ReconstructionConfig;

const RTOL: f64 = 1e-4;

fn w1_process(b: Rc<dyn Backend>) -> LearningProcess {
    let config = FedAvgConfig {
        client_optimizer: OptimizerConfig::sgd(0.02),
        server_optimizer: OptimizerConfig::sgd(1.0),
        seed: 42,
    };
    build_weighted_fed_avg(
        federated::model_fn(builtin::softmax_regression()),
        b,
        config,
        ClientWeighting::NumExamples,
    )
    .unwrap()
}

fn w1_clients() -> Vec<Dataset> {
    let (train, _) = femnist_digits().unwrap();
    let ids = train.client_ids();
    federated::client_datasets(&train, &ids[..10], |ds| {
        ds.repeat(5).shuffle(100, 42).batch(20, false)
    })
    .unwrap()
}

fn w3_process(b: Rc<dyn Backend>, items: usize) -> LearningProcess {
    build_fed_recon(
        federated::model_fn(builtin::matrix_factorization(items, 4)),
        b,
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
    .unwrap()
}

fn w3_clients() -> (Vec<Dataset>, usize) {
    let items = 40;
    let d = synthetic_ratings(&SyntheticRatings {
        num_users: 20,
        num_items: items,
        rank: 2,
        ratings_per_user: 30,
        noise_std: 0.3,
        seed: 3,
    })
    .unwrap();
    let ids = d.clients.client_ids();
    let clients =
        federated::client_datasets(&d.clients, &ids, |ds| ds.shuffle(300, 42).batch(5, false))
            .unwrap();
    (clients, items)
}

async fn one_round(p: &LearningProcess, clients: &[Dataset]) -> LearningProcessOutput {
    let s0 = p.initialize().await.unwrap();
    p.next(&s0, clients).await.unwrap()
}

fn flat(w: &ModelWeights) -> Vec<f64> {
    w.trainable
        .iter()
        .chain(&w.non_trainable)
        .flat_map(|v| v.data.iter().map(|&x| x as f64))
        .collect()
}

/// Fails unless the two rounds' weights and losses agree within [`RTOL`].
fn assert_same_round(what: &str, gpu: &LearningProcessOutput, cpu: &LearningProcessOutput) {
    let (g, c) = (
        flat(&gpu.state.global_model_weights),
        flat(&cpu.state.global_model_weights),
    );
    assert_eq!(g.len(), c.len(), "{what}: weight counts");
    let diff = g
        .iter()
        .zip(&c)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(norm > 0.0, "{what}: the CPU weights are all zero");
    let rel = diff / norm;
    assert!(
        rel <= RTOL,
        "{what}: weights differ by {rel:.2e} relative (limit {RTOL:.0e})"
    );
    let loss = |o: &LearningProcessOutput| o.metrics.train(MetricKind::Loss).unwrap();
    let (lg, lc) = (loss(gpu), loss(cpu));
    assert!(
        ((lg - lc) / lc).abs() <= RTOL,
        "{what}: loss {lg} on the GPU vs {lc} on the CPU"
    );
    // The metrics say how many examples went in: none lost, none repeated.
    let n = |o: &LearningProcessOutput| o.metrics.train(MetricKind::NumExamples).unwrap();
    assert_eq!(n(gpu), n(cpu), "{what}: examples");
}

fn cpu() -> Rc<dyn Backend> {
    Rc::new(CpuBackend::new())
}

async_tests! {
    fed_avg_round_w1_matches_the_cpu => w1_round,
    fed_recon_round_w3_matches_the_cpu => w3_round,
    a_device_lost_mid_round_reruns_that_client_on_the_cpu => device_lost_mid_round,
    a_device_lost_between_rounds_moves_the_process_to_the_cpu => device_lost_between_rounds,
    a_client_reads_back_once => one_read_back_per_client,
}

async fn w1_round() {
    let gpu: Rc<dyn Backend> = common::gpu::backend().await;
    let clients = w1_clients();
    let on_gpu = one_round(&w1_process(gpu), &clients).await;
    let on_cpu = one_round(&w1_process(cpu()), &clients).await;
    assert_same_round("W1 FedAvg round", &on_gpu, &on_cpu);
}

async fn w3_round() {
    let gpu: Rc<dyn Backend> = common::gpu::backend().await;
    let (clients, items) = w3_clients();
    let on_gpu = one_round(&w3_process(gpu, items), &clients).await;
    let on_cpu = one_round(&w3_process(cpu(), items), &clients).await;
    assert_same_round("W3 FedRecon round", &on_gpu, &on_cpu);
}

/// On a device of its own (it gets destroyed), never the shared one.
async fn device_lost_mid_round() {
    let gpu = Rc::new(WebGpuBackend::new().await.expect("a WebGPU adapter"));
    let clients = w1_clients();
    let process = w1_process(gpu.clone());
    let s0 = process.initialize().await.unwrap();
    // Lose the device a few batches into the round (each batch records
    // about a dozen commands), in the middle of a client's training.
    let per_client = clients[0].batches().unwrap().count();
    gpu.simulate_device_loss_after(per_client * 12 + 37);
    let on_gpu = process.next(&s0, &clients).await.unwrap();
    assert!(
        gpu.context().is_lost(),
        "the device was lost during the round"
    );
    assert_eq!(
        process.backend().info().kind,
        BackendKind::Cpu,
        "fell back to the CPU"
    );
    let on_cpu = one_round(&w1_process(cpu()), &clients).await;
    assert_same_round("W1 round with a lost device", &on_gpu, &on_cpu);
}

/// The device lost before a round starts (and before `initialize`): the
/// process moves to the CPU and the round equals the CPU's.
async fn device_lost_between_rounds() {
    let gpu = Rc::new(WebGpuBackend::new().await.expect("a WebGPU adapter"));
    let clients = w1_clients();
    let process = w1_process(gpu.clone());
    let fresh = w1_process(gpu.clone());
    let s0 = process.initialize().await.unwrap();
    gpu.simulate_device_loss();
    let on_gpu = process.next(&s0, &clients).await.unwrap();
    assert_eq!(
        process.backend().info().kind,
        BackendKind::Cpu,
        "fell back to the CPU"
    );
    let on_cpu = one_round(&w1_process(cpu()), &clients).await;
    assert_same_round("W1 round after a lost device", &on_gpu, &on_cpu);
    // A process built before the loss initializes on the CPU instead.
    let s = fresh.initialize().await.unwrap();
    assert_eq!(s, s0, "the same initial state");
    assert_eq!(fresh.backend().info().kind, BackendKind::Cpu);
}

/// A client's whole local work (FedAvg's epochs, FedRecon's two phases)
/// ends in one read-back: its metrics and its update together.
async fn one_read_back_per_client() {
    let gpu = Rc::new(WebGpuBackend::new().await.expect("a WebGPU adapter"));
    let as_dyn: Rc<dyn Backend> = gpu.clone();
    let (w3, items) = w3_clients();
    for (process, clients) in [
        (w1_process(as_dyn.clone()), w1_clients()),
        (w3_process(as_dyn.clone(), items), w3),
    ] {
        let s0 = process.initialize().await.unwrap();
        let mut round = process.begin_round(&s0).unwrap();
        let mut model = process.new_model().unwrap();
        for (i, data) in clients.iter().take(3).enumerate() {
            let before = gpu.read_backs();
            let task = round.task(i as u64, DatasetPlan::new());
            let out = client_update(as_dyn.as_ref(), model.as_mut(), &task, data, None)
                .await
                .unwrap();
            assert_eq!(
                gpu.read_backs() - before,
                1,
                "{}: client {i}",
                process.name()
            );
            round.accept(&out.update).unwrap();
        }
    }
}
