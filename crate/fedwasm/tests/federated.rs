//! Federated algorithms (issue 3): hand-computed means, non-finite updates,
//! checkpoints, stateful vs reconstructed local variables, FedProx, the W1
//! and W3 acceptance runs, sampling, metrics layout and typed errors.

mod common;
use common::ready;

use std::cell::RefCell;
use std::rc::Rc;

use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::data::{
    femnist_digits, synthetic_ratings, ClientData, Dataset, DatasetPlan, ElementSpec,
    ReconstructionSplit, SyntheticRatings,
};
use fedwasm::federated::{
    self, build_fed_eval, build_fed_prox, build_fed_recon, build_fed_recon_eval,
    build_stateful_fed_avg, build_unweighted_fed_avg, build_weighted_fed_avg, client_update,
    ClientWeighting, FedAvgConfig, FedReconConfig, FedReconEvalConfig, LearningProcess,
    LearningProcessState, ModelFn, ModelWeights, StatefulConfig, WeightedMean,
};
use fedwasm::layers::Mode;
use fedwasm::metrics::{MetricKind, UnfinalizedMetrics};
use fedwasm::model::{
    builtin, BatchOutput, DeviceBatch, Model, ModelSpec, PartitionSpec, VariableGroup, VariableInfo,
};
use fedwasm::optim::{LearningRate, OptimizerConfig};
use fedwasm::train::ReconstructionConfig;
use fedwasm::{Error, Result, Tensor};

fn backend() -> Rc<dyn Backend> {
    Rc::new(CpuBackend::new())
}

/// `y = w x + b` on one input, zero-initialised, mean squared error.
fn linear_spec() -> ModelSpec {
    ModelSpec::from_json(
        r#"{"name": "linear", "input_shape": [1], "label": "real",
            "layers": [{"name": "dense", "layer": {"dense": {"units": 1, "kernel_initializer": "zeros"}}}],
            "loss": "mean_squared_error"}"#,
    )
    .unwrap()
}

/// One client: examples `(1.0, y)` for each `y`, in one batch.
fn ones_client(ys: &[f32]) -> Dataset {
    let spec = ElementSpec::new(vec![1], fedwasm::data::LabelSpec::Real);
    let ex = fedwasm::data::Examples::new(spec, vec![1.0; ys.len()], ys.to_vec()).unwrap();
    Dataset::from_examples(ex).batch(ys.len().max(1), false)
}

/// The values of a weights list, flattened.
fn flat(w: &ModelWeights) -> Vec<f32> {
    w.trainable.iter().flat_map(|v| v.data.clone()).collect()
}

fn bits(w: &ModelWeights) -> Vec<u32> {
    flat(w).iter().map(|x| x.to_bits()).collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

fn fed_avg(lr: f32, weighting: ClientWeighting, spec: ModelSpec) -> LearningProcess {
    build_weighted_fed_avg(
        federated::model_fn(spec),
        backend(),
        FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(lr)),
        weighting,
    )
    .unwrap()
}

// ---- aggregation ----

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn streaming_weighted_mean_by_hand() {
    let mut m = WeightedMean::new(&[vec![2]]).unwrap();
    m.add(&[vec![1.0, 2.0]], 1.0).unwrap();
    m.add(&[vec![3.0, 4.0]], 2.0).unwrap();
    m.add(&[vec![5.0, 6.0]], 3.0).unwrap();
    // (1*1 + 2*3 + 3*5) / 6 = 22/6; (1*2 + 2*4 + 3*6) / 6 = 28/6.
    let mean = m.mean();
    close(mean[0][0], 22.0 / 6.0, 1e-12, "first element");
    close(mean[0][1], 28.0 / 6.0, 1e-12, "second element");
    close(m.total_weight(), 6.0, 0.0, "total weight");
    assert_eq!(m.num_clients(), 3);
}

/// Three clients with 1, 2 and 3 examples, all with x = 1 and labels of mean
/// 1, 3 and 6. From w = b = 0, the MSE gradient is dL/dw = dL/db =
/// mean(2 (0 - y) * 1) = -2 mean(y), so one SGD step at 0.5 gives
/// w = b = mean(y): client deltas 1, 3, 6. Server SGD 1.0 adds the mean delta:
/// weighted by examples (1*1 + 2*3 + 3*6) / 6 = 25/6, uniform (1+3+6)/3 = 10/3.
async fn weighted_and_unweighted_fed_avg_by_hand() {
    let clients = [
        ones_client(&[1.0]),
        ones_client(&[2.0, 4.0]),
        ones_client(&[3.0, 6.0, 9.0]),
    ];
    let config = FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.5));
    let weighted = fed_avg(0.5, ClientWeighting::NumExamples, linear_spec());
    let unweighted =
        build_unweighted_fed_avg(federated::model_fn(linear_spec()), backend(), config).unwrap();
    for (process, want) in [(&weighted, 25.0 / 6.0), (&unweighted, 10.0 / 3.0)] {
        let state = process.initialize().await.unwrap();
        assert_eq!(flat(&state.global_model_weights), vec![0.0, 0.0]);
        let out = process.next(&state, &clients).await.unwrap();
        let w = flat(&out.state.global_model_weights);
        close(w[0] as f64, want, 1e-6, "kernel");
        close(w[1] as f64, want, 1e-6, "bias");
        assert_eq!(out.metrics.train(MetricKind::NumExamples), Some(6.0));
        assert_eq!(out.metrics.train(MetricKind::NumBatches), Some(3.0));
        assert_eq!(out.metrics.update_non_finite(), Some(0));
    }
}

// ---- non-finite updates ----

/// A client whose rating is 3e38 overflows its gradient (2 * 3e38 > f32::MAX),
/// so its update is infinite. As in TFF's client work, that client sends
/// zeros with weight 0: the round equals a round of the good client alone,
/// and the model stays finite.
async fn a_non_finite_client_never_corrupts_the_model() {
    let process = fed_avg(0.5, ClientWeighting::NumExamples, linear_spec());
    let s0 = process.initialize().await.unwrap();
    let good = ones_client(&[1.0, 2.0]);
    let s1 = process
        .next(&s0, std::slice::from_ref(&good))
        .await
        .unwrap()
        .state;
    let bad = ones_client(&[3.0e38]);
    let out = process
        .next(&s1, &[good.clone(), bad.clone()])
        .await
        .unwrap();
    let alone = process
        .next(&s1, std::slice::from_ref(&good))
        .await
        .unwrap();
    assert_eq!(out.metrics.update_non_finite(), Some(0));
    assert!(out.state.global_model_weights.is_finite());
    assert_eq!(
        bits(&out.state.global_model_weights),
        bits(&alone.state.global_model_weights)
    );
    assert_ne!(
        bits(&out.state.global_model_weights),
        bits(&s1.global_model_weights)
    );
    // The state stays checkpointable and usable.
    let s2 = LearningProcessState::from_json(&out.state.to_json().unwrap()).unwrap();
    let next = process
        .next(&s2, std::slice::from_ref(&good))
        .await
        .unwrap();
    assert_eq!(next.metrics.update_non_finite(), Some(0));

    // Uniform weighting: TFF's unweighted mean still counts the zeroed
    // client, so the step is half the good client's.
    let uniform = fed_avg(0.5, ClientWeighting::Uniform, linear_spec());
    let u0 = uniform.initialize().await.unwrap();
    let both = uniform.next(&u0, &[good.clone(), bad]).await.unwrap();
    let single = uniform.next(&u0, &[good]).await.unwrap();
    assert_eq!(both.metrics.update_non_finite(), Some(0));
    let (w_both, w_single) = (
        flat(&both.state.global_model_weights),
        flat(&single.state.global_model_weights),
    );
    let w0 = flat(&u0.global_model_weights);
    for i in 0..w0.len() {
        let (half, full) = ((w_both[i] - w0[i]) as f64, (w_single[i] - w0[i]) as f64);
        close(half, full / 2.0, 1e-6, "uniform mean with a zeroed client");
    }
}

/// The same through the round API: a NaN in one client's update (a custom
/// client that did not zero it) is refused by the server round with the
/// reason `non_finite`, nothing changes, and the round goes on with the
/// other clients: the result equals a round without that client.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_nan_update_is_refused_and_the_round_goes_on() {
    let process = fed_avg(0.5, ClientWeighting::Uniform, linear_spec());
    let state = ready(process.initialize()).unwrap();
    let run = |clients: &[Dataset], poison: Option<usize>| {
        let mut model = process.new_model().unwrap();
        let mut round = process.begin_round(&state).unwrap();
        for (i, ds) in clients.iter().enumerate() {
            let task = round.task(i as u64, DatasetPlan::new());
            let mut out = ready(client_update(
                process.backend().as_ref(),
                model.as_mut(),
                &task,
                ds,
                None,
            ))
            .unwrap();
            if poison == Some(i) {
                out.update.update[0].data[0] = f32::NAN;
                let e = round.accept(&out.update).unwrap_err();
                assert_eq!(e.code(), "refused", "{e}");
                assert!(e.to_string().contains("non_finite"), "{e}");
                assert_eq!(round.accepted(), i, "a refused update changes nothing");
            } else {
                round.accept(&out.update).unwrap();
            }
        }
        round.finish().unwrap()
    };
    let (poisoned, metrics) = run(&[ones_client(&[1.0]), ones_client(&[2.0])], Some(1));
    let (alone, _) = run(&[ones_client(&[1.0])], None);
    assert_eq!(metrics.update_non_finite(), Some(0));
    assert_eq!(
        bits(&poisoned.global_model_weights),
        bits(&alone.global_model_weights)
    );
    assert_ne!(
        bits(&poisoned.global_model_weights),
        bits(&state.global_model_weights)
    );
}

/// One path for a round: `LearningProcess::next` equals the same round
/// driven through its pieces (tasks, `client_update`, the updates through
/// their binary encoding, `ServerRound::accept`) in reverse client order,
/// bit for bit; the binary checkpoint restores it exactly.
async fn next_equals_the_round_driven_by_hand_in_any_order() {
    let (train, _) = femnist_digits().unwrap();
    let process = fed_avg(
        0.02,
        ClientWeighting::NumExamples,
        builtin::softmax_regression(),
    );
    let s0 = process.initialize().await.unwrap();
    let clients = femnist_round(&train, 4, 0);
    let want = process.next(&s0, &clients).await.unwrap();
    let mut round = process.begin_round(&s0).unwrap();
    let mut model = process.new_model().unwrap();
    for (i, data) in clients.iter().enumerate().rev() {
        let task = round.task(i as u64, DatasetPlan::new());
        let task = federated::ClientTask::from_bytes(&task.to_bytes().unwrap()).unwrap();
        let out = client_update(
            process.backend().as_ref(),
            model.as_mut(),
            &task,
            data,
            None,
        )
        .await
        .unwrap();
        let update = federated::ClientUpdate::from_bytes(&out.update.to_bytes()).unwrap();
        round.accept(&update).unwrap();
    }
    let (state, metrics) = round.finish().unwrap();
    assert_eq!(state, want.state);
    assert_eq!(metrics, want.metrics);
    let restored = LearningProcessState::from_bytes(&state.to_bytes().unwrap()).unwrap();
    assert_eq!(restored, want.state);
    // A task for another model is refused by the client.
    let mut other = round_task_for_other_model(&process, &s0);
    other.model_fingerprint ^= 1;
    let e = client_update(
        process.backend().as_ref(),
        model.as_mut(),
        &other,
        &clients[0],
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "refused", "{e}");
}

fn round_task_for_other_model(
    process: &LearningProcess,
    state: &LearningProcessState,
) -> federated::ClientTask {
    process
        .begin_round(state)
        .unwrap()
        .task(0, DatasetPlan::new())
}

// ---- checkpoints ----

/// The digits of the embedded FEMNIST writers, `k` sampled per round,
/// reshuffled each round.
fn femnist_round(train: &ClientData, k: usize, round: u64) -> Vec<Dataset> {
    let ids = federated::sample_client_ids(train, k, 3, round).unwrap();
    federated::client_datasets(train, &ids, |ds| ds.shuffle(200, round).batch(20, false)).unwrap()
}

fn state_bits(s: &LearningProcessState) -> String {
    // JSON prints every f32 in shortest round-trip form: equal strings mean equal bits.
    s.to_json().unwrap()
}

async fn checkpoint_restore_continues_bit_for_bit() {
    let (train, _) = femnist_digits().unwrap();
    // Adam on the server and a decaying client rate: state that matters.
    let config = FedAvgConfig {
        client_optimizer: OptimizerConfig::sgd(LearningRate::ExponentialDecay {
            initial: 0.05,
            decay_rate: 0.5,
            decay_rounds: 1,
            staircase: true,
        }),
        server_optimizer: OptimizerConfig::adam(0.01),
        seed: 5,
    };
    let process = build_weighted_fed_avg(
        federated::model_fn(builtin::softmax_regression()),
        backend(),
        config,
        ClientWeighting::NumExamples,
    )
    .unwrap();
    let run = async |state: LearningProcessState, rounds: u64| {
        let mut state = state;
        let mut metrics = Vec::new();
        for _ in 0..rounds {
            let clients = femnist_round(&train, 4, state.round());
            let out = process.next(&state, &clients).await.unwrap();
            metrics.push(out.metrics.to_json().unwrap());
            state = out.state;
        }
        (state, metrics)
    };
    let s0 = process.initialize().await.unwrap();
    let (straight, straight_metrics) = run(s0.clone(), 3).await;
    let (mid, first_metrics) = run(s0, 1).await;
    let restored = LearningProcessState::from_json(&mid.to_json().unwrap()).unwrap();
    assert_eq!(state_bits(&restored), state_bits(&mid));
    let (resumed, resumed_metrics) = run(restored, 2).await;
    assert_eq!(
        bits(&resumed.global_model_weights),
        bits(&straight.global_model_weights)
    );
    assert_eq!(state_bits(&resumed), state_bits(&straight));
    assert_eq!(straight_metrics[0], first_metrics[0]);
    assert_eq!(straight_metrics[1..], resumed_metrics[..]);
    assert_eq!(resumed.round(), 3);
}

/// FedRecon's per-round seeds and FedEval's running totals survive a checkpoint too.
async fn fed_recon_and_eval_checkpoints_resume_exactly() {
    let (data, _) = ratings(20, 0.3);
    let clients = rating_batches(&data, &data.client_ids()[..6], 0);
    let process = build_fed_recon(mf(false), backend(), recon_config()).unwrap();
    let eval = build_fed_recon_eval(mf(false), backend(), recon_eval_config()).unwrap();
    let s0 = process.initialize().await.unwrap();
    let e0 = eval.initialize().await.unwrap();
    let step = async |s: &LearningProcessState, e: &LearningProcessState| {
        let s = process.next(s, &clients).await.unwrap().state;
        let e = eval
            .set_model_weights(e, process.get_model_weights(&s).unwrap())
            .unwrap();
        let e = eval.next(&e, &clients).await.unwrap().state;
        (s, e)
    };
    let (s1, e1) = step(&s0, &e0).await;
    let (s2, e2) = step(&s1, &e1).await;
    let restore =
        |s: &LearningProcessState| LearningProcessState::from_json(&s.to_json().unwrap()).unwrap();
    let (r2, f2) = step(&restore(&s1), &restore(&e1)).await;
    assert_eq!(state_bits(&r2), state_bits(&s2));
    assert_eq!(state_bits(&f2), state_bits(&e2));
}

// ---- local variables: stateful vs reconstructed ----

/// Records the model's local variables at every training step.
struct Spy {
    inner: Box<dyn Model>,
    log: Rc<RefCell<Vec<Vec<f32>>>>,
}

impl Model for Spy {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn input_spec(&self) -> &ElementSpec {
        self.inner.input_spec()
    }
    fn variables(&self) -> &[VariableInfo] {
        self.inner.variables()
    }
    fn values(&self) -> &[Tensor] {
        self.inner.values()
    }
    fn values_mut(&mut self) -> &mut [Tensor] {
        self.inner.values_mut()
    }
    fn metrics(&self) -> &[MetricKind] {
        self.inner.metrics()
    }
    fn forward(&self, b: &dyn Backend, batch: &DeviceBatch, mode: Mode) -> Result<BatchOutput> {
        self.inner.forward(b, batch, mode)
    }
    fn forward_backward(
        &self,
        b: &dyn Backend,
        batch: &DeviceBatch,
        mode: Mode,
        wrt: &[bool],
    ) -> Result<(BatchOutput, Vec<Option<Tensor>>)> {
        let locals = self
            .variables()
            .iter()
            .zip(self.values())
            .filter(|(v, _)| !v.group.is_global())
            .flat_map(|(_, t)| t.to_f32_vec())
            .collect();
        self.log.borrow_mut().push(locals);
        self.inner.forward_backward(b, batch, mode, wrt)
    }
    fn reinitialize(&mut self, b: &dyn Backend, groups: &[VariableGroup], seed: u64) -> Result<()> {
        self.inner.reinitialize(b, groups, seed)
    }
}

fn spy_mf(log: Rc<RefCell<Vec<Vec<f32>>>>) -> ModelFn {
    let inner = mf(false);
    Rc::new(
        move |b: &dyn Backend, seed: u64| -> Result<Box<dyn Model>> {
            Ok(Box::new(Spy {
                inner: inner(b, seed)?,
                log: log.clone(),
            }))
        },
    )
}

/// A reconstruction client given a state (a browser tab that keeps its
/// user vector) gets back the local variables it reconstructed and trained
/// this round; its update, weight and metrics are those of a client without
/// a state, bit for bit, and the locals are in no update.
async fn fed_recon_clients_given_a_state_get_their_local_variables_back() {
    let (data, _) = ratings(4, 0.3);
    let clients = rating_batches(&data, &data.client_ids()[..1], 0);
    let process = build_fed_recon(mf(false), backend(), recon_config()).unwrap();
    let s0 = process.initialize().await.unwrap();
    let round = process.begin_round(&s0).unwrap();
    let task = round.task(5, DatasetPlan::new());
    let b = process.backend();
    let mut model = process.new_model().unwrap();
    let plain = client_update(b.as_ref(), model.as_mut(), &task, &clients[0], None)
        .await
        .unwrap();
    assert!(plain.client_state.is_none());
    let given = federated::ClientState {
        index: 5,
        local_weights: Vec::new(),
    };
    let kept = client_update(b.as_ref(), model.as_mut(), &task, &clients[0], Some(&given))
        .await
        .unwrap();
    assert_eq!(kept.update.to_bytes(), plain.update.to_bytes());
    let state = kept.client_state.expect("a state given, a state back");
    assert_eq!(state.index, 5);
    let names: Vec<&str> = state
        .local_weights
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let locals: Vec<&str> = model
        .variables()
        .iter()
        .filter(|v| !v.group.is_global())
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(names, locals);
    assert!(!names.is_empty());
    let update_names: Vec<&str> = kept.update.update.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.iter().all(|n| !update_names.contains(n)),
        "{update_names:?}"
    );
    // Reconstructed and trained: not the initializer's values.
    let mut fresh = process.new_model().unwrap();
    fresh
        .reinitialize(b.as_ref(), &[VariableGroup::LocalTrainable], task.seed)
        .unwrap();
    let init: Vec<f32> = fresh
        .variables()
        .iter()
        .zip(fresh.values())
        .filter(|(v, _)| !v.group.is_global())
        .flat_map(|(_, t)| t.to_f32_vec())
        .collect();
    let got: Vec<f32> = state
        .local_weights
        .iter()
        .flat_map(|t| t.data.clone())
        .collect();
    assert_eq!(got.len(), init.len());
    assert_ne!(got, init);
}

async fn stateful_clients_keep_their_vectors_while_fed_recon_reinitialises() {
    let (data, _) = ratings(4, 0.3);
    let clients = rating_batches(&data, &data.client_ids()[..1], 0);
    let log = Rc::new(RefCell::new(Vec::new()));

    // Stateful: round 2 starts from exactly the vector round 1 returned.
    let process =
        build_stateful_fed_avg(spy_mf(log.clone()), backend(), StatefulConfig::default()).unwrap();
    let s0 = process.initialize().await.unwrap();
    let c0 = process.initial_client_state(7).await.unwrap();
    assert_eq!(c0, process.initial_client_state(7).await.unwrap());
    let out1 = process
        .next(&s0, &clients, std::slice::from_ref(&c0))
        .await
        .unwrap();
    let c1 = out1.client_states[0].clone();
    assert_eq!(c1.index, 7);
    assert_eq!(
        log.borrow()[0],
        c0.local_weights[0].data,
        "round 1 starts from the initial state"
    );
    assert_ne!(
        c1.local_weights[0].data, c0.local_weights[0].data,
        "round 1 trained it"
    );
    log.borrow_mut().clear();
    let out2 = process
        .next(&out1.state, &clients, std::slice::from_ref(&c1))
        .await
        .unwrap();
    assert_eq!(
        log.borrow()[0],
        c1.local_weights[0].data,
        "round 2 starts where round 1 ended"
    );
    assert_ne!(out2.client_states[0].local_weights, c1.local_weights);

    // FedRecon: every round starts from a fresh, round-seeded initial vector.
    let process = build_fed_recon(spy_mf(log.clone()), backend(), recon_config()).unwrap();
    let mut state = process.initialize().await.unwrap();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for _ in 0..2 {
        log.borrow_mut().clear();
        state = process.next(&state, &clients).await.unwrap().state;
        let l = log.borrow();
        // Locals are frozen after reconstruction, so the last step sees the reconstructed vector.
        starts.push(l[0].clone());
        ends.push(l[l.len() - 1].clone());
    }
    assert_ne!(starts[0], ends[0], "reconstruction trained the vector");
    assert_ne!(
        starts[1], ends[0],
        "round 2 does not start from round 1's vector"
    );
    assert_ne!(
        starts[1], starts[0],
        "re-initialisation is seeded per round"
    );
    for v in &starts[1] {
        assert!(
            v.abs() <= 0.05,
            "a fresh uniform(-0.05, 0.05) initialisation, got {v}"
        );
    }
    assert!(
        ends[0].iter().any(|v| v.abs() > 0.05),
        "trained: {:?}",
        ends[0]
    );
    // The user vector never leaves the client.
    assert!(!state.to_json().unwrap().contains("user_embedding"));
}

// ---- FedProx ----

async fn fed_prox_with_zero_mu_is_fed_avg_and_positive_mu_stays_closer() {
    let (train, _) = femnist_digits().unwrap();
    let config = FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.05));
    let build = |mu: Option<f32>| {
        let m = federated::model_fn(builtin::softmax_regression());
        match mu {
            None => {
                build_weighted_fed_avg(m, backend(), config.clone(), ClientWeighting::NumExamples)
            }
            Some(mu) => build_fed_prox(
                m,
                backend(),
                config.clone(),
                mu,
                ClientWeighting::NumExamples,
            ),
        }
        .unwrap()
    };
    let two_rounds = async |p: &LearningProcess| {
        let mut s = p.initialize().await.unwrap();
        let start = flat(&s.global_model_weights);
        for round in 0..2 {
            let clients: Vec<Dataset> = femnist_round(&train, 3, round)
                .into_iter()
                .map(|d| d.repeat(3))
                .collect();
            s = p.next(&s, &clients).await.unwrap().state;
        }
        (start, flat(&s.global_model_weights))
    };
    let (start, avg) = two_rounds(&build(None)).await;
    let (_, prox0) = two_rounds(&build(Some(0.0))).await;
    let (_, prox) = two_rounds(&build(Some(5.0))).await;
    for (a, p) in avg.iter().zip(&prox0) {
        close(*p as f64, *a as f64, 1e-6, "FedProx(mu = 0) vs FedAvg");
    }
    let dist = |w: &[f32]| -> f64 {
        w.iter()
            .zip(&start)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    assert!(
        dist(&prox) < 0.9 * dist(&avg),
        "the proximal term pulls towards the broadcast model: {} vs {}",
        dist(&prox),
        dist(&avg)
    );
}

// ---- W3: FedRecon on low-rank ratings ----

/// Synthetic ratings of `users` users on 30 items, rank 2, noise `noise`;
/// returns the clients and the generator's noise.
fn ratings(users: usize, noise: f64) -> (ClientData, f64) {
    let d = synthetic_ratings(&SyntheticRatings {
        num_users: users,
        num_items: 30,
        rank: 2,
        ratings_per_user: 30,
        noise_std: noise,
        seed: 1,
    })
    .unwrap();
    (d.clients, noise)
}

fn rating_batches(data: &ClientData, ids: &[String], round: u64) -> Vec<Dataset> {
    federated::client_datasets(data, ids, |ds| ds.shuffle(64, round).batch(5, false)).unwrap()
}

/// Matrix factorisation with dimension 4 (rank 2 plus room for the mean
/// rating); with `global_user` the user vector is one shared global variable.
fn mf(global_user: bool) -> ModelFn {
    let mut spec = builtin::matrix_factorization(30, 4);
    if global_user {
        spec.partition = Some(PartitionSpec::ByLayer {
            global: vec!["item_embedding".into(), "user_embedding".into()],
            local: vec![],
        });
    }
    federated::model_fn(spec)
}

fn split() -> ReconstructionSplit {
    ReconstructionSplit {
        recon_epochs: 10,
        split_dataset: true,
        ..ReconstructionSplit::default()
    }
}

fn recon_config() -> FedReconConfig {
    FedReconConfig {
        reconstruction: ReconstructionConfig {
            reconstruction_optimizer: OptimizerConfig::sgd(0.5),
            client_optimizer: OptimizerConfig::sgd(0.3),
            split: split(),
        },
        ..FedReconConfig::default()
    }
}

fn recon_eval_config() -> FedReconEvalConfig {
    FedReconEvalConfig {
        reconstruction_optimizer: OptimizerConfig::sgd(0.5),
        split: split(),
        seed: 7,
    }
}

/// RMSE on held-out users: each reconstructs its local variables (if any)
/// on its even batches and is scored on its odd batches.
async fn held_out_rmse(weights: ModelWeights, model: ModelFn, test: &[Dataset]) -> f64 {
    let eval = build_fed_recon_eval(model, backend(), recon_eval_config()).unwrap();
    let s = eval
        .set_model_weights(&eval.initialize().await.unwrap(), weights)
        .unwrap();
    let m = eval.next(&s, test).await.unwrap().metrics;
    m.eval(MetricKind::MeanSquaredError).unwrap().sqrt()
}

async fn fed_recon_reaches_the_noise_level_and_beats_a_shared_user_vector() {
    let (data, noise) = ratings(120, 0.3);
    let ids = data.client_ids();
    let (train_ids, test_ids) = ids.split_at(100);
    let test = rating_batches(&data, test_ids, 0);
    let train = data.retain_clients(|id| train_ids.iter().any(|t| t == id));

    let recon = build_fed_recon(mf(false), backend(), recon_config()).unwrap();
    let avg = fed_avg(0.3, ClientWeighting::NumExamples, {
        let mut spec = builtin::matrix_factorization(30, 4);
        spec.partition = Some(PartitionSpec::ByLayer {
            global: vec!["item_embedding".into(), "user_embedding".into()],
            local: vec![],
        });
        spec
    });
    let mut s_recon = recon.initialize().await.unwrap();
    let mut s_avg = avg.initialize().await.unwrap();
    for round in 0..100 {
        let sample = federated::sample_client_ids(&train, 20, 1, round).unwrap();
        let clients = rating_batches(&train, &sample, round);
        s_recon = recon.next(&s_recon, &clients).await.unwrap().state;
        // FedAvg sees the same data: one epoch of the same batches.
        s_avg = avg.next(&s_avg, &clients).await.unwrap().state;
    }
    let rmse_recon =
        held_out_rmse(recon.get_model_weights(&s_recon).unwrap(), mf(false), &test).await;
    let rmse_avg = held_out_rmse(avg.get_model_weights(&s_avg).unwrap(), mf(true), &test).await;
    println!("held-out RMSE: FedRecon {rmse_recon:.4}, FedAvg (shared user vector) {rmse_avg:.4}, noise {noise}");
    // Reconstructing 4 numbers from 15 noisy ratings costs about
    // sqrt(1 + 4/15) = 1.13 times the noise; allow 1.3.
    assert!(
        rmse_recon < 1.3 * noise,
        "FedRecon RMSE {rmse_recon} vs noise {noise}"
    );
    // A shared user vector cannot model users' tastes (unit variance).
    assert!(rmse_avg > 0.8, "FedAvg RMSE {rmse_avg}");
    assert!(rmse_recon < 0.5 * rmse_avg, "{rmse_recon} vs {rmse_avg}");
}

// ---- W1: FedAvg on the embedded FEMNIST digits ----

/// Seed 002's recipe: all 10 writers every round, 5 epochs, shuffle buffer
/// 100, batch 20, client SGD 0.02, server SGD 1.0, pixels as stored. TFF's
/// tutorial prints losses 3.119, 2.985, 2.862, 2.740, 2.619 for its rounds 1-5.
async fn fed_avg_training_loss_falls_every_round_on_femnist_digits() {
    let (train, _) = femnist_digits().unwrap();
    let process = fed_avg(
        0.02,
        ClientWeighting::NumExamples,
        builtin::softmax_regression(),
    );
    let mut state = process.initialize().await.unwrap();
    let mut losses = Vec::new();
    for round in 1..=5 {
        let clients = federated::client_datasets(&train, &train.client_ids(), |ds| {
            ds.repeat(5).shuffle(100, round).batch(20, false)
        })
        .unwrap();
        let out = process.next(&state, &clients).await.unwrap();
        assert_eq!(
            out.metrics.train(MetricKind::NumExamples),
            Some(5.0 * train.num_examples() as f64)
        );
        losses.push(out.metrics.train(MetricKind::Loss).unwrap());
        state = out.state;
    }
    println!("FedAvg training losses: {losses:?}");
    close(losses[0], 3.12, 0.3, "round 1 loss near TFF's");
    for w in losses.windows(2) {
        assert!(w[1] < w[0] - 1e-3, "loss must fall every round: {losses:?}");
    }
}

// ---- FedEval ----

async fn fed_eval_keeps_current_and_total_metrics() {
    let (train, test) = femnist_digits().unwrap();
    let trainer = fed_avg(
        0.02,
        ClientWeighting::NumExamples,
        builtin::softmax_regression(),
    );
    let s = trainer.initialize().await.unwrap();
    let s = trainer
        .next(&s, &femnist_round(&train, 10, 0))
        .await
        .unwrap()
        .state;
    let eval = build_fed_eval(
        federated::model_fn(builtin::softmax_regression()),
        backend(),
    )
    .unwrap();
    let e0 = eval
        .set_model_weights(
            &eval.initialize().await.unwrap(),
            trainer.get_model_weights(&s).unwrap(),
        )
        .unwrap();
    let clients =
        federated::client_datasets(&test, &test.client_ids(), |d| d.batch(32, false)).unwrap();
    let out1 = eval.next(&e0, &clients).await.unwrap();
    let out2 = eval.next(&out1.state, &clients[..3]).await.unwrap();
    let e1 = &out1.metrics.client_work.eval.as_ref().unwrap();
    let e2 = &out2.metrics.client_work.eval.as_ref().unwrap();
    let n = test.num_examples() as f64;
    assert_eq!(e1.current_round_metrics["num_examples"], n);
    assert_eq!(e1.total_rounds_metrics, e1.current_round_metrics);
    let n3: usize = test.client_ids()[..3]
        .iter()
        .map(|id| test.examples_for_client(id).unwrap().len())
        .sum();
    assert_eq!(e2.current_round_metrics["num_examples"], n3 as f64);
    assert_eq!(e2.total_rounds_metrics["num_examples"], n + n3 as f64);
    // The total loss is the example-weighted mean of the two rounds.
    let (l1, l2) = (
        e1.current_round_metrics["loss"],
        e2.current_round_metrics["loss"],
    );
    close(
        e2.total_rounds_metrics["loss"],
        (l1 * n + l2 * n3 as f64) / (n + n3 as f64),
        1e-9,
        "total loss",
    );
    // Evaluation never changes the model; the state holds the unfinalized sums.
    assert_eq!(out2.state.global_model_weights, e0.global_model_weights);
    let sums: &UnfinalizedMetrics = &out2
        .state
        .client_work
        .eval
        .as_ref()
        .unwrap()
        .total_rounds_metrics;
    assert_eq!(sums.value(MetricKind::NumExamples), Some(n + n3 as f64));
    assert!(out2.metrics.update_non_finite().is_none());
}

// ---- sampling ----

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sampling_is_seeded_without_replacement_and_deterministic() {
    let a = federated::sample_clients(100, 10, 42, 3).unwrap();
    assert_eq!(a, federated::sample_clients(100, 10, 42, 3).unwrap());
    let mut sorted = a.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 10, "no client twice: {a:?}");
    assert!(a.iter().all(|&i| i < 100));
    assert_ne!(
        a,
        federated::sample_clients(100, 10, 42, 4).unwrap(),
        "rounds differ"
    );
    assert_ne!(
        a,
        federated::sample_clients(100, 10, 43, 3).unwrap(),
        "seeds differ"
    );
    let mut all = federated::sample_clients(7, 7, 1, 0).unwrap();
    all.sort_unstable();
    assert_eq!(all, (0..7).collect::<Vec<_>>());
    assert!(matches!(
        federated::sample_clients(3, 4, 0, 0),
        Err(Error::InvalidArgument { .. })
    ));
    // Every client is drawn about equally often over many rounds.
    let mut counts = [0usize; 10];
    for round in 0..2000 {
        for i in federated::sample_clients(10, 3, 9, round).unwrap() {
            counts[i] += 1;
        }
    }
    for c in counts {
        close(c as f64, 600.0, 90.0, "draws per client");
    }
}

// ---- metrics layout and errors ----

async fn metrics_and_state_nest_like_tff() {
    let (train, _) = femnist_digits().unwrap();
    let process = fed_avg(
        0.02,
        ClientWeighting::NumExamples,
        builtin::softmax_regression(),
    );
    let s = process.initialize().await.unwrap();
    let out = process
        .next(&s, &femnist_round(&train, 2, 0))
        .await
        .unwrap();
    let m: serde_json::Value = serde_json::from_str(&out.metrics.to_json().unwrap()).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&m),
        ["aggregator", "client_work", "distributor", "finalizer"]
    );
    assert_eq!(keys(&m["client_work"]), ["non_finite_updates", "train"]);
    assert_eq!(m["client_work"]["non_finite_updates"], 0);
    assert_eq!(
        keys(&m["client_work"]["train"]),
        [
            "loss",
            "num_batches",
            "num_examples",
            "sparse_categorical_accuracy"
        ]
    );
    assert_eq!(
        m["aggregator"],
        serde_json::json!({"mean_value": {}, "mean_weight": {}})
    );
    assert_eq!(m["finalizer"], serde_json::json!({"update_non_finite": 0}));
    assert_eq!(m["distributor"], serde_json::json!({}));
    let st: serde_json::Value = serde_json::from_str(&out.state.to_json().unwrap()).unwrap();
    assert_eq!(
        keys(&st),
        [
            "aggregator",
            "client_work",
            "distributor",
            "finalizer",
            "global_model_weights"
        ]
    );
    assert_eq!(
        keys(&st["global_model_weights"]),
        ["non_trainable", "trainable"]
    );
    assert_eq!(st["finalizer"]["round"], 1);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn seed_004_errors_are_typed() {
    let (train, _) = femnist_digits().unwrap();
    let softmax = fed_avg(
        0.02,
        ClientWeighting::NumExamples,
        builtin::softmax_regression(),
    );
    let linear = fed_avg(0.5, ClientWeighting::NumExamples, linear_spec());
    let s_softmax = ready(softmax.initialize()).unwrap();
    let s_linear = ready(linear.initialize()).unwrap();

    // A state of another model is not assignable.
    let err = ready(softmax.next(&s_linear, &[])).unwrap_err();
    assert!(matches!(err, Error::StateNotAssignable { .. }), "{err}");
    assert!(err.to_string().contains("[784, 10]"), "{err}");
    // Nor is an evaluation state to a training process.
    let eval = build_fed_eval(
        federated::model_fn(builtin::softmax_regression()),
        backend(),
    )
    .unwrap();
    let e = ready(eval.initialize()).unwrap();
    let err = ready(softmax.next(&e, &[])).unwrap_err();
    assert!(matches!(err, Error::StateNotAssignable { .. }), "{err}");

    // Weights of the wrong structure.
    let err = softmax
        .set_model_weights(&s_softmax, s_linear.global_model_weights.clone())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WeightsStructure {
                op: "set_model_weights",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("dense/kernel"), "{err}");

    // Client data of the wrong element spec, or unbatched.
    let digits = femnist_round(&train, 2, 0);
    let err = ready(linear.next(&s_linear, &digits)).unwrap_err();
    assert!(
        matches!(err, Error::ClientDataSpec { client: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("[784]"), "{err}");
    let unbatched = vec![
        digits[0].clone(),
        train.dataset_for_client(&train.client_ids()[0]).unwrap(),
    ];
    let err = ready(softmax.next(&s_softmax, &unbatched)).unwrap_err();
    assert!(
        matches!(err, Error::ClientDataSpec { client: 1, .. }),
        "{err}"
    );

    // FedAvg refuses a model with local variables.
    let err = build_weighted_fed_avg(
        mf(false),
        backend(),
        FedAvgConfig::default(),
        ClientWeighting::Uniform,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("user_embedding"), "{err}");
    // Stateful clients need as many states as datasets.
    let stateful = build_stateful_fed_avg(mf(false), backend(), StatefulConfig::default()).unwrap();
    let s = ready(stateful.initialize()).unwrap();
    let (data, _) = ratings(2, 0.1);
    let err =
        ready(stateful.next(&s, &rating_batches(&data, &data.client_ids(), 0), &[])).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}

cpu_tests! {
    next_equals_the_round_driven_by_hand_in_any_order,
    weighted_and_unweighted_fed_avg_by_hand,
    a_non_finite_client_never_corrupts_the_model,
    checkpoint_restore_continues_bit_for_bit,
    fed_recon_and_eval_checkpoints_resume_exactly,
    stateful_clients_keep_their_vectors_while_fed_recon_reinitialises,
    fed_recon_clients_given_a_state_get_their_local_variables_back,
    fed_prox_with_zero_mu_is_fed_avg_and_positive_mu_stays_closer,
    fed_recon_reaches_the_noise_level_and_beats_a_shared_user_vector,
    fed_avg_training_loss_falls_every_round_on_femnist_digits,
    fed_eval_keeps_current_and_total_metrics,
    metrics_and_state_nest_like_tff,
}
