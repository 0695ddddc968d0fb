//! This crate's decoders as fuzz targets: the binary encodings of every
//! protocol message ([`crate::encoding`]), each decoded message taken one
//! step further where a server would (an update accepted into a
//! [`ServerRound`] and the round finished, a checkpoint checked against its
//! process). (A [`ProcessSpec`] is the operator's configuration, not
//! input from strangers.)

use std::collections::BTreeMap;

use super::{reseal_crc32_trailer, Target};
use crate::aggregation::{ClientWeighting, MeanAggregator};
use crate::encoding::f32_arrays;
use crate::messages::{ClientState, ClientTask, ClientUpdate};
use crate::metrics::{MetricKind, UnfinalizedMetrics};
use crate::model_weights::ModelWeights;
use crate::optim::OptimizerConfig;
use crate::plan::DatasetPlan;
use crate::server::{ProcessSpec, ServerRound};
use crate::state::LearningProcessState;
use crate::variables::{VariableGroup, VariableInfo};
use crate::weights::NamedTensor;
use crate::work::ClientWork;

/// The protocol's decoders (see the module docs). Names are stable
/// (`fedwasm bench fuzz --decoder NAME`); add a decoder with one line here.
///
/// # Panics
/// If a seed cannot be built (a bug in this function).
pub fn protocol_targets() -> Vec<Target> {
    let train = spec(false);
    let eval = spec(true);
    let train_state = state(&train);
    let eval_state = state(&eval);
    let tasks = vec![
        task(
            &train,
            &train_state,
            DatasetPlan::new()
                .repeat(2)
                .shuffle(64, 3)
                .batch(20)
                .take(5),
        ),
        task(&eval, &eval_state, DatasetPlan::new().batch(8)),
    ];
    let updates = vec![
        update(&train, &train_state, 1, 12.0),
        update(&train, &train_state, 2, 3.0),
        update(&eval, &eval_state, 3, 5.0),
    ];
    let client_states = vec![
        ClientState {
            index: 7,
            local_weights: vec![tensor("user/embedding", &[1, 2], 0.5)],
        }
        .to_bytes(),
        ClientState {
            index: 0,
            local_weights: Vec::new(),
        }
        .to_bytes(),
    ];
    let checkpoints = vec![
        train_state.to_bytes().expect("encodable"),
        eval_state.to_bytes().expect("encodable"),
    ];
    let mut every_kind = tasks.clone();
    every_kind.extend(updates.iter().cloned());
    every_kind.extend(client_states.iter().cloned());
    every_kind.extend(checkpoints.iter().cloned());
    let (train2, eval2) = (train.clone(), eval.clone());
    vec![
        Target::new("task_fwtk", tasks, |b| ClientTask::from_bytes(b).map(drop))
            .resealed_with(reseal_crc32_trailer),
        Target::new("update_fwup_accept", updates, move |b| {
            let u = ClientUpdate::from_bytes(b)?;
            // A server accepts updates into the round they claim.
            let (spec, state) = if u.metrics.0.contains_key("sparse_categorical_accuracy") {
                (&train, &train_state)
            } else {
                (&eval, &eval_state)
            };
            let mut round = ServerRound::new(spec, state)?;
            round.accept(&u)?;
            round.finish().map(drop)
        })
        .resealed_with(reseal_crc32_trailer),
        Target::new("client_state_fwcs", client_states, |b| {
            ClientState::from_bytes(b).map(drop)
        })
        .resealed_with(reseal_crc32_trailer),
        Target::new("checkpoint_fwck", checkpoints, move |b| {
            let s = LearningProcessState::from_bytes(b)?;
            let spec = if s.client_work.eval.is_some() {
                &eval2
            } else {
                &train2
            };
            spec.check_state("fuzz", &s)?;
            ServerRound::new(spec, &s).map(drop)
        })
        .resealed_with(reseal_crc32_trailer),
        Target::new("f32_arrays", every_kind, |b| f32_arrays(b).map(drop))
            .resealed_with(reseal_crc32_trailer),
    ]
}

fn tensor(name: &str, shape: &[usize], base: f32) -> NamedTensor {
    let n = shape.iter().product();
    NamedTensor {
        name: name.into(),
        shape: shape.to_vec(),
        data: (0..n).map(|i| base - i as f32 * 0.25).collect(),
    }
}

/// A small FedAvg (or FedEval) process: a dense layer, a non-trainable
/// scale and a local user vector.
fn spec(evaluation: bool) -> ProcessSpec {
    let var = |name: &str, shape: &[usize], group| VariableInfo {
        name: name.into(),
        shape: shape.to_vec(),
        group,
    };
    ProcessSpec {
        name: if evaluation {
            "fed_eval"
        } else {
            "weighted_fed_avg"
        }
        .into(),
        work: if evaluation {
            ClientWork::Evaluate
        } else {
            ClientWork::Train {
                client_optimizer: OptimizerConfig::sgd(0.02),
                proximal_strength: None,
            }
        },
        weighting: ClientWeighting::NumExamples,
        server_optimizer: (!evaluation).then(|| OptimizerConfig::adam(0.01)),
        variables: vec![
            var("dense/kernel", &[3, 2], VariableGroup::GlobalTrainable),
            var("dense/bias", &[2], VariableGroup::GlobalTrainable),
            var("norm/scale", &[1], VariableGroup::GlobalNonTrainable),
        ],
        metrics: if evaluation {
            vec![
                MetricKind::NumExamples,
                MetricKind::NumBatches,
                MetricKind::Loss,
            ]
        } else {
            vec![
                MetricKind::NumExamples,
                MetricKind::NumBatches,
                MetricKind::Loss,
                MetricKind::SparseCategoricalAccuracy,
            ]
        },
        seed: 11,
        max_client_weight: 1 << 20,
    }
}

fn state(spec: &ProcessSpec) -> LearningProcessState {
    let weights = ModelWeights {
        trainable: vec![
            tensor("dense/kernel", &[3, 2], 1.0),
            tensor("dense/bias", &[2], 0.0),
        ],
        non_trainable: vec![tensor("norm/scale", &[1], 2.0)],
    };
    spec.initial_state(weights, &MeanAggregator)
        .expect("the seed weights fit the spec")
}

fn task(spec: &ProcessSpec, state: &LearningProcessState, plan: DatasetPlan) -> Vec<u8> {
    let round = ServerRound::new(spec, state).expect("a valid spec and state");
    round.task(4, plan).to_bytes().expect("encodable")
}

/// An update the round of `state` accepts from client `key`.
fn update(spec: &ProcessSpec, state: &LearningProcessState, key: u64, examples: f64) -> Vec<u8> {
    let mut metrics = BTreeMap::from([
        ("num_examples".to_string(), vec![examples]),
        ("num_batches".to_string(), vec![1.0]),
        ("loss".to_string(), vec![0.75 * examples, examples]),
    ]);
    if !spec.work.is_evaluation() {
        metrics.insert(
            "sparse_categorical_accuracy".to_string(),
            vec![examples.floor(), examples],
        );
    }
    let u = ClientUpdate {
        round_id: state.round(),
        model_fingerprint: spec.fingerprint(),
        client_key: key,
        weight: examples,
        non_finite: false,
        update: if spec.work.is_evaluation() {
            Vec::new()
        } else {
            vec![
                tensor("dense/kernel", &[3, 2], 0.1),
                tensor("dense/bias", &[2], -0.5),
            ]
        },
        metrics: UnfinalizedMetrics(metrics),
    };
    u.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_decodes() {
        for t in protocol_targets() {
            assert!(!t.seeds().is_empty(), "{}", t.name());
            for (i, s) in t.seeds().iter().enumerate() {
                if let Err(e) = t.decode(s) {
                    panic!("{} seed {i}: {e}", t.name());
                }
            }
        }
    }
}
