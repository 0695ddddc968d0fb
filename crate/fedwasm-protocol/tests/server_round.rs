//! `ServerRound` without any model code: validation with reasons, nothing
//! changed by a refused update, bit-identical results for every arrival
//! order, evaluation sums, and the encodings on the way in and out.

use std::collections::BTreeMap;

use fedwasm_protocol::aggregation::ClientWeighting;
use fedwasm_protocol::aggregation::MeanAggregator;
use fedwasm_protocol::messages::{ClientTask, ClientUpdate};
use fedwasm_protocol::metrics::{MetricKind, UnfinalizedMetrics};
use fedwasm_protocol::model_weights::ModelWeights;
use fedwasm_protocol::optim::OptimizerConfig;
use fedwasm_protocol::plan::DatasetPlan;
use fedwasm_protocol::rng::Rng;
use fedwasm_protocol::server::{ProcessSpec, ServerRound};
use fedwasm_protocol::state::LearningProcessState;
use fedwasm_protocol::variables::{VariableGroup, VariableInfo};
use fedwasm_protocol::weights::NamedTensor;
use fedwasm_protocol::work::ClientWork;

fn var(name: &str, shape: &[usize], group: VariableGroup) -> VariableInfo {
    VariableInfo {
        name: name.into(),
        shape: shape.to_vec(),
        group,
    }
}

fn spec(weighting: ClientWeighting, server: OptimizerConfig) -> ProcessSpec {
    ProcessSpec {
        name: "weighted_fed_avg".into(),
        work: ClientWork::Train {
            client_optimizer: OptimizerConfig::sgd(0.1),
            proximal_strength: None,
        },
        weighting,
        server_optimizer: Some(server),
        variables: vec![
            var("dense/kernel", &[3, 2], VariableGroup::GlobalTrainable),
            var("dense/bias", &[2], VariableGroup::GlobalTrainable),
            var("user/embedding", &[1, 2], VariableGroup::LocalTrainable),
        ],
        metrics: vec![
            MetricKind::NumExamples,
            MetricKind::NumBatches,
            MetricKind::Loss,
            MetricKind::SparseCategoricalAccuracy,
        ],
        seed: 5,
        max_client_weight: 1 << 20,
    }
}

fn zeros(spec: &ProcessSpec) -> ModelWeights {
    ModelWeights {
        trainable: spec
            .variables
            .iter()
            .filter(|v| v.group == VariableGroup::GlobalTrainable)
            .map(|v| NamedTensor {
                name: v.name.clone(),
                shape: v.shape.clone(),
                data: vec![0.0; v.shape.iter().product()],
            })
            .collect(),
        non_trainable: Vec::new(),
    }
}

fn initial(spec: &ProcessSpec) -> LearningProcessState {
    spec.initial_state(zeros(spec), &MeanAggregator).unwrap()
}

fn metrics(examples: f64, loss: f64) -> UnfinalizedMetrics {
    UnfinalizedMetrics(BTreeMap::from([
        ("num_examples".to_string(), vec![examples]),
        ("num_batches".to_string(), vec![(examples / 4.0).ceil()]),
        ("loss".to_string(), vec![loss * examples, examples]),
        (
            "sparse_categorical_accuracy".to_string(),
            vec![(examples / 2.0).floor(), examples],
        ),
    ]))
}

/// A plausible update of client `key` answering `task`, with values spread
/// over many magnitudes so rounding would show.
fn update_for(task: &ClientTask, key: u64, rng: &mut Rng) -> ClientUpdate {
    let examples = 1 + rng.below(200) as usize;
    ClientUpdate {
        round_id: task.round_id,
        model_fingerprint: task.model_fingerprint,
        client_key: key,
        weight: match task.weighting {
            ClientWeighting::NumExamples => examples as f64,
            ClientWeighting::Uniform => 1.0,
        },
        non_finite: false,
        update: task
            .global
            .trainable
            .iter()
            .map(|t| NamedTensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                data: t
                    .data
                    .iter()
                    .map(|_| ((rng.uniform() - 0.5) * 10f64.powi(rng.below(12) as i32 - 8)) as f32)
                    .collect(),
            })
            .collect(),
        metrics: metrics(examples as f64, 0.1 + rng.uniform()),
    }
}

fn bits(s: &LearningProcessState) -> Vec<u32> {
    s.global_model_weights
        .trainable
        .iter()
        .flat_map(|t| t.data.iter().map(|x| x.to_bits()))
        .collect()
}

#[test]
fn every_arrival_order_gives_the_same_bits() {
    for (weighting, server) in [
        (ClientWeighting::NumExamples, OptimizerConfig::sgd(1.0)),
        (ClientWeighting::Uniform, OptimizerConfig::adam(0.01)),
    ] {
        let spec = spec(weighting, server);
        let state = initial(&spec);
        let round = ServerRound::new(&spec, &state).unwrap();
        let mut rng = Rng::new(1);
        let updates: Vec<ClientUpdate> = (0..12)
            .map(|k| update_for(&round.task(k, DatasetPlan::new()), k, &mut rng))
            .collect();
        let run = |order: &[usize]| {
            let mut r = ServerRound::new(&spec, &state).unwrap();
            for &i in order {
                // Through the wire format, as a coordinator would.
                let bytes = updates[i].to_bytes();
                r.accept(&ClientUpdate::from_bytes(&bytes).unwrap())
                    .unwrap();
            }
            r.finish().unwrap()
        };
        let order: Vec<usize> = (0..updates.len()).collect();
        let (want_state, want_metrics) = run(&order);
        assert_ne!(bits(&want_state), bits(&state), "the round moved the model");
        for seed in 0..30 {
            let mut o = order.clone();
            Rng::new(seed).shuffle(&mut o);
            let (s, m) = run(&o);
            assert_eq!(bits(&s), bits(&want_state), "{weighting:?}, order {o:?}");
            assert_eq!(s, want_state);
            assert_eq!(m, want_metrics);
        }
        // The metrics are TFF's sum-then-finalize.
        let n: f64 = updates
            .iter()
            .map(|u| u.metrics.value(MetricKind::NumExamples).unwrap())
            .sum();
        assert_eq!(want_metrics.train(MetricKind::NumExamples), Some(n));
        assert_eq!(want_metrics.client_work.non_finite_updates, Some(0));
        assert_eq!(want_state.round(), 1);
        // The new state survives its checkpoint bit for bit.
        let ck = want_state.to_bytes().unwrap();
        assert_eq!(LearningProcessState::from_bytes(&ck).unwrap(), want_state);
    }
}

/// One way to spoil an update.
type Corruption = Box<dyn Fn(&mut ClientUpdate)>;

#[test]
fn a_refused_update_names_its_reason_and_changes_nothing() {
    let spec = spec(ClientWeighting::NumExamples, OptimizerConfig::sgd(1.0));
    let state = initial(&spec);
    let mut round = ServerRound::new(&spec, &state).unwrap();
    let task = round.task(0, DatasetPlan::new());
    let mut rng = Rng::new(2);
    let good = update_for(&task, 0, &mut rng);
    let cases: Vec<(&str, Corruption)> = vec![
        ("round_id", Box::new(|u| u.round_id += 1)),
        ("fingerprint", Box::new(|u| u.model_fingerprint ^= 1)),
        ("structure", Box::new(|u| u.update.swap(0, 1))),
        ("structure", Box::new(|u| u.update[1].name = "other".into())),
        ("structure", Box::new(|u| u.update[0].shape = vec![2, 3])),
        (
            "structure",
            Box::new(|u| {
                u.update.pop();
            }),
        ),
        ("structure", Box::new(|u| u.update[0].data.push(0.0))),
        ("non_finite", Box::new(|u| u.update[0].data[1] = f32::NAN)),
        (
            "non_finite",
            Box::new(|u| u.update[1].data[0] = f32::INFINITY),
        ),
        ("non_finite", Box::new(|u| u.non_finite = true)),
        ("weight", Box::new(|u| u.weight += 1.0)),
        ("weight", Box::new(|u| u.weight = 0.5)),
        ("weight", Box::new(|u| u.weight = -1.0)),
        ("weight", Box::new(|u| u.weight = f64::NAN)),
        (
            "weight",
            Box::new(|u| {
                u.weight = 2e6;
                u.metrics = metrics(2e6, 1.0);
            }),
        ),
        (
            "metrics",
            Box::new(|u| {
                u.metrics.0.remove("loss");
            }),
        ),
        (
            "metrics",
            Box::new(|u| {
                u.metrics.0.insert("rating_accuracy".into(), vec![0.0, 1.0]);
            }),
        ),
        (
            "metrics",
            Box::new(|u| u.metrics.0.get_mut("loss").unwrap().push(1.0)),
        ),
        (
            "metrics",
            Box::new(|u| u.metrics.0.get_mut("loss").unwrap()[0] = -1.0),
        ),
        (
            "metrics",
            Box::new(|u| u.metrics.0.get_mut("loss").unwrap()[1] = f64::NAN),
        ),
        (
            "metrics",
            Box::new(|u| u.metrics.0.get_mut("num_batches").unwrap()[0] = 1.5),
        ),
        (
            "metrics",
            Box::new(|u| {
                u.metrics.0.insert("made_up".into(), vec![1.0]);
            }),
        ),
    ];
    for (reason, corrupt) in &cases {
        let mut bad = good.clone();
        corrupt(&mut bad);
        let e = round.accept(&bad).unwrap_err();
        assert_eq!(e.code(), "refused", "{e}");
        match &e {
            fedwasm_protocol::Error::Refused { reason: r, .. } => {
                assert_eq!(r, reason, "{e}")
            }
            other => panic!("{other}"),
        }
        assert_eq!(round.accepted(), 0, "{reason}: nothing changes");
    }
    round.accept(&good).unwrap();
    let e = round.accept(&good).unwrap_err();
    assert!(e.to_string().contains("duplicate"), "{e}");
    // A zeroed non-finite update with weight 0 is accepted and counted.
    let mut zeroed = update_for(&task, 1, &mut rng);
    zeroed.client_key = 1;
    zeroed.non_finite = true;
    zeroed.weight = 0.0;
    zeroed
        .update
        .iter_mut()
        .for_each(|t| t.data.iter_mut().for_each(|x| *x = 0.0));
    // A diverged client's loss is infinite: accepted, and the round's loss
    // is infinite as in TFF.
    zeroed.metrics.0.get_mut("loss").unwrap()[0] = f64::INFINITY;
    round.accept(&zeroed).unwrap();
    // The result equals a round with the good update alone (weight 0 adds
    // nothing), apart from the metric sums and the count.
    let (with, m) = round.finish().unwrap();
    let mut alone = ServerRound::new(&spec, &state).unwrap();
    alone.accept(&good).unwrap();
    let (without, _) = alone.finish().unwrap();
    assert_eq!(bits(&with), bits(&without));
    assert_eq!(m.client_work.non_finite_updates, Some(1));
    assert_eq!(m.train(MetricKind::Loss), Some(f64::INFINITY));
}

#[test]
fn states_of_another_process_are_not_assignable() {
    let spec = spec(ClientWeighting::NumExamples, OptimizerConfig::sgd(1.0));
    let adam = spec_with_adam();
    let e = ServerRound::new(&adam, &initial(&spec)).unwrap_err();
    assert_eq!(e.code(), "state_not_assignable", "{e}");
    let mut other = spec.clone();
    other.variables[0].shape = vec![4, 2];
    let e = ServerRound::new(&other, &initial(&spec)).unwrap_err();
    assert_eq!(e.code(), "state_not_assignable", "{e}");
}

fn spec_with_adam() -> ProcessSpec {
    spec(ClientWeighting::NumExamples, OptimizerConfig::adam(0.1))
}

#[test]
fn evaluation_sums_metrics_over_rounds_exactly() {
    let mut spec = spec(ClientWeighting::NumExamples, OptimizerConfig::sgd(1.0));
    spec.name = "fed_eval".into();
    spec.work = ClientWork::Evaluate;
    spec.server_optimizer = None;
    let mut state = initial(&spec);
    let mut rng = Rng::new(9);
    let mut total = 0.0;
    for r in 0..3 {
        let mut round = ServerRound::new(&spec, &state).unwrap();
        for k in 0..4 {
            let task = round.task(k, DatasetPlan::new());
            let mut u = update_for(&task, k, &mut rng);
            u.update.clear();
            total += u.metrics.value(MetricKind::NumExamples).unwrap();
            round.accept(&u).unwrap();
        }
        let (s, m) = round.finish().unwrap();
        assert_eq!(s.round(), r + 1);
        assert_eq!(s.global_model_weights, state.global_model_weights);
        let eval = m.client_work.eval.unwrap();
        assert_eq!(eval.total_rounds_metrics["num_examples"], total);
        assert_eq!(m.finalizer.update_non_finite, None);
        state = s;
    }
}

#[test]
fn a_task_survives_its_encoding() {
    let spec = spec(ClientWeighting::NumExamples, OptimizerConfig::sgd(1.0));
    let state = initial(&spec);
    let round = ServerRound::new(&spec, &state).unwrap();
    let task = round.task(77, DatasetPlan::new().repeat(5).shuffle(100, 1).batch(20));
    assert_eq!(task.model_fingerprint, spec.fingerprint());
    let bytes = task.to_bytes().unwrap();
    assert_eq!(ClientTask::from_bytes(&bytes).unwrap(), task);
    // Seeds differ per client and per round.
    assert_ne!(round.task(78, DatasetPlan::new()).seed, task.seed);
}
