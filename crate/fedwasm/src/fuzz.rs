//! The engine's decoders of untrusted bytes as fuzz targets, for
//! [`fedwasm_protocol::fuzz`] (whose harness, report and allocator this
//! module re-exports). `fedwasm bench fuzz` runs [`targets`]; the CLI's
//! `tests/fuzz.rs` runs a short version in CI, in debug and release.
//!
//! Each target decodes one input as a host would receive it (bytes, or
//! text converted lossily) and, where the decoded value is used right
//! away, goes one step further (a model description is also built on the
//! CPU backend, an optimizer state restored), so the checks behind the
//! decoder are fuzzed too. Seeds are small valid inputs built here, so
//! every case is fast; their validity is checked at the start of each run.
//!
//! To add a decoder: one `Target::new(..)` (or [`Target::text`]) line in
//! [`targets`], or in [`fedwasm_protocol::fuzz::protocol_targets`] for a
//! decoder of that crate.

pub use fedwasm_protocol::fuzz::{
    case_input, protocol_targets, reseal_crc32_trailer, run, CaseNote, CountingAlloc, FuzzConfig,
    FuzzReport, Target,
};

use crate::backend::CpuBackend;
use crate::data::{
    decode_examples, decode_femnist_pack, encode_examples, encode_femnist_pack, femnist_digits,
    parse_csv, parse_leaf_json, parse_movielens, ClientData, ColumnRef, CsvOptions, Examples,
    LabelSpec, LeafOptions, LEAF_PIXELS,
};
use crate::federated::LearningProcessState;
use crate::model::{builtin, GraphModel, ModelSpec, NamedTensor, WeightsSnapshot};
use crate::optim::{LearningRate, Optimizer, OptimizerConfig, OptimizerState};
use crate::Result;

/// Every decoder of untrusted input: the engine's and
/// [`protocol_targets`]. Names are stable (`--decoder NAME`).
///
/// # Panics
/// If a seed cannot be built (the embedded data set is damaged).
pub fn targets() -> Vec<Target> {
    let mut t = vec![
        Target::new("weights_binary", weights_seeds(|w| w.to_bytes()), |b| {
            WeightsSnapshot::from_bytes(b).map(drop)
        })
        .resealed_with(reseal_crc32_trailer),
        Target::text(
            "weights_json",
            weights_seeds(|w| w.to_json().expect("seed snapshots are valid")),
            |s| WeightsSnapshot::from_json(s).map(drop),
        ),
        Target::new("femnist_pack", pack_seeds(), |b| {
            decode_femnist_pack(b).map(drop)
        })
        .resealed_with(reseal_crc32_trailer),
        Target::text("model_spec_json", spec_seeds(), |s| {
            ModelSpec::from_json(s).map(drop)
        }),
        Target::text("model_build_json", build_seeds(), |s| {
            GraphModel::from_json(s, &CpuBackend::new(), 1).map(drop)
        }),
        Target::text("checkpoint_json", checkpoint_seeds(), |s| {
            LearningProcessState::from_json(s).map(drop)
        }),
        Target::text(
            "optimizer_state_json",
            vec![ADAM_STATE.to_string()],
            restore_adam,
        ),
        Target::text("optimizer_config_json", config_seeds(), |s| {
            let config = OptimizerConfig::from_json(s)?;
            for round in [0, 1, 7, 1 << 20, u64::MAX] {
                // A valid schedule can still overflow at a round: an error.
                let _ = config.learning_rate.at(round);
            }
            Ok(())
        }),
        Target::text("leaf_json", leaf_seeds(), |s| {
            parse_leaf_json("fuzz.json", s.as_bytes(), &LeafOptions::default()).map(drop)
        }),
        Target::text("movielens", movielens_seeds(), |s| {
            parse_movielens("fuzz.dat", s, &Default::default()).map(drop)
        }),
        Target::text("csv", csv_seeds(), |s| {
            parse_csv("fuzz.csv", s, &csv_options()).map(drop)
        }),
        Target::new("examples_binary", examples_seeds(), |b| {
            decode_examples(b).map(drop)
        })
        .resealed_with(reseal_crc32_trailer),
    ];
    t.extend(protocol_targets());
    t
}

/// Three snapshots: a small dense layer and a scalar, nothing, and an empty
/// tensor with a non-ASCII name.
fn weights_seeds<T>(encode: impl Fn(&WeightsSnapshot) -> T) -> Vec<T> {
    let v = |name: &str, shape: Vec<usize>, data: Vec<f32>| {
        NamedTensor::new(name, shape, data).expect("seed tensors fit their shapes")
    };
    let small = WeightsSnapshot::new(vec![
        v(
            "dense/kernel",
            vec![3, 2],
            vec![0.5, -1.25, 3.0, 1e-7, -0.0, 65504.0],
        ),
        v("dense/bias", vec![2], vec![0.1, -0.2]),
        v("scale", vec![], vec![2.0]),
    ]);
    let odd = WeightsSnapshot::new(vec![v("émbed/表", vec![2, 0, 3], vec![])]);
    [small, WeightsSnapshot::default(), odd]
        .iter()
        .map(encode)
        .collect()
}

/// Two small packs cut from the embedded one: two writers with a few
/// examples each, and one writer with one training example.
fn pack_seeds() -> Vec<Vec<u8>> {
    let (train, test) = femnist_digits().expect("the embedded pack decodes");
    let cut = |c: &ClientData, writers: usize, examples: usize| {
        let clients = c
            .iter()
            .take(writers)
            .map(|(id, ex)| {
                let n = ex.len().min(examples);
                let d = ex.spec().x_len();
                let part = Examples::new(
                    ex.spec().clone(),
                    ex.x()[..n * d].to_vec(),
                    ex.y()[..n].to_vec(),
                )
                .expect("a prefix of valid examples is valid");
                (id.to_string(), part)
            })
            .collect();
        ClientData::from_clients(c.element_spec().clone(), clients).expect("same spec")
    };
    vec![
        encode_femnist_pack(&cut(&train, 2, 3), &cut(&test, 2, 2)).expect("encodable"),
        encode_femnist_pack(&cut(&train, 1, 1), &cut(&test, 0, 0)).expect("encodable"),
    ]
}

fn compact(spec: &ModelSpec) -> String {
    serde_json::to_string(spec).expect("model specs serialise")
}

/// The built-in tutorial models' descriptions.
fn spec_seeds() -> Vec<String> {
    [
        builtin::softmax_regression(),
        builtin::cnn_dropout(10),
        builtin::matrix_factorization(1682, 50),
    ]
    .iter()
    .map(compact)
    .collect()
}

/// Small models that build quickly: every layer kind, both losses, a partition.
fn build_seeds() -> Vec<String> {
    vec![
        r#"{"name":"small_cnn","input_shape":[36],"label":{"class":{"num_classes":3}},
            "layers":[{"name":"image","layer":{"reshape":{"shape":[6,6,1]}}},
                {"name":"conv","layer":{"conv2d":{"filters":2,"kernel_size":3,"activation":"relu"}}},
                {"name":"pool","layer":"max_pool2d"},
                {"name":"drop","layer":{"dropout":{"rate":0.5}}},
                {"name":"flat","layer":"flatten"},
                {"name":"dense","layer":{"dense":{"units":3,"activation":"softmax"}}}],
            "loss":{"sparse_categorical_crossentropy":{}},
            "metrics":["sparse_categorical_accuracy"]}"#
            .to_string(),
        r#"{"name":"mlp","input_shape":[8],"label":{"class":{"num_classes":4}},
            "layers":[{"name":"hidden","layer":{"dense":{"units":5,"activation":"relu"}}},
                {"name":"out","layer":{"dense":{"units":4,"use_bias":false}}},
                {"name":"probs","layer":"softmax"}],
            "loss":{"sparse_categorical_crossentropy":{"from_logits":false}}}"#
            .to_string(),
        compact(&builtin::matrix_factorization(20, 3)),
    ]
}

/// An Adam server optimizer's state for a `[2, 2]` kernel and a `[2]` bias
/// (first and second moments), as [`OptimizerState::to_json`] writes it.
const ADAM_STATE: &str = r#"{"optimizer":"adam","step":3,"round":3,"shapes":[[2,2],[2]],"slots":[[{"shape":[2,2],"data":[0.1,-0.2,0.0,1.5]},{"shape":[2,2],"data":[0.01,0.04,0.0,2.25]}],[{"shape":[2],"data":[-0.5,0.25]},{"shape":[2],"data":[0.25,0.0625]}]]}"#;

/// Parses an optimizer state and restores it as an Adam optimizer on the CPU.
fn restore_adam(s: &str) -> Result<()> {
    let state = OptimizerState::from_json(s)?;
    Optimizer::from_state(OptimizerConfig::adam(0.01), &CpuBackend::new(), state).map(drop)
}

/// A training checkpoint (weights and an Adam server optimizer) and an
/// evaluation one (weights and metric sums).
fn checkpoint_seeds() -> Vec<String> {
    let weights = r#"{"trainable":[{"name":"dense/kernel","shape":[2,2],"data":[0.5,-1.0,0.25,2.0]},{"name":"dense/bias","shape":[2],"data":[0.0,0.125]}],"non_trainable":[]}"#;
    let aggregator = r#"{"value_sum_process":{},"weight_sum_process":{}}"#;
    let metrics = r#"{"loss":[12.5,10.0],"num_batches":[2.0],"num_examples":[10.0],"sparse_categorical_accuracy":[7.0,10.0]}"#;
    vec![
        format!(
            r#"{{"global_model_weights":{weights},"distributor":{{}},"client_work":{{}},"aggregator":{aggregator},"finalizer":{{"round":3,"server_optimizer":{ADAM_STATE}}}}}"#
        ),
        format!(
            r#"{{"global_model_weights":{weights},"distributor":{{}},"client_work":{{"eval":{{"current_round_metrics":{metrics},"total_rounds_metrics":{metrics}}}}},"aggregator":{aggregator},"finalizer":{{"round":1}}}}"#
        ),
    ]
}

/// Each update rule and learning-rate schedule once.
fn config_seeds() -> Vec<String> {
    let exp = LearningRate::ExponentialDecay {
        initial: 0.1,
        decay_rate: 0.9,
        decay_rounds: 5,
        staircase: true,
    };
    let inv = LearningRate::InverseTimeDecay {
        initial: 0.5,
        decay_rate: 0.5,
        decay_rounds: 2,
        staircase: false,
    };
    let piecewise = LearningRate::PiecewiseConstant {
        boundaries: vec![10, 20],
        values: vec![0.1, 0.01, 0.001],
    };
    [
        OptimizerConfig::sgdm(0.1, Some(0.9)),
        OptimizerConfig::adam(exp),
        OptimizerConfig::yogi(inv),
        OptimizerConfig::adagrad(piecewise),
        OptimizerConfig::rmsprop(0.001),
    ]
    .iter()
    .map(|c| c.to_json().expect("valid configs serialise"))
    .collect()
}

/// A LEAF document with two writers (three examples), pixels written short.
fn leaf_seeds() -> Vec<String> {
    let row = |seed: usize| {
        let values: Vec<&str> = (0..LEAF_PIXELS)
            .map(|i| ["1", "0", "0.5", "0.25", "1"][(i * 7 + seed) % 5])
            .collect();
        format!("[{}]", values.join(","))
    };
    vec![format!(
        r#"{{"users":["w1","w0"],"num_samples":[2,1],"user_data":{{"w0":{{"x":[{}],"y":[61]}},"w1":{{"x":[{},{}],"y":[3,40]}}}}}}"#,
        row(0),
        row(1),
        row(2)
    )]
}

/// Ratings in both MovieLens formats.
fn movielens_seeds() -> Vec<String> {
    vec![
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t51\t2\t880606923\n"
            .to_string(),
        "1::1193::5::978300760\r\n1::661::3::978302109\r\n2::1357::4.5::978298709\r\n".to_string(),
    ]
}

/// `FWEX` examples (what a client task travels with): class labels of a
/// small image-like shape, real labels, and no examples.
fn examples_seeds() -> Vec<Vec<u8>> {
    let class = Examples::new(
        crate::data::ElementSpec::new(vec![2, 2], LabelSpec::Class { num_classes: 3 }),
        (0..12).map(|i| i as f32 / 4.0).collect(),
        vec![0.0, 2.0, 1.0],
    )
    .expect("a valid seed");
    let real = Examples::new(
        crate::data::ElementSpec::new(vec![1], LabelSpec::Real),
        vec![3.0, 7.0],
        vec![4.5, -1.0],
    )
    .expect("a valid seed");
    let empty = Examples::empty(crate::data::ElementSpec::new(vec![5], LabelSpec::Real))
        .expect("a valid seed");
    [class, real, empty].iter().map(encode_examples).collect()
}

fn csv_options() -> CsvOptions {
    CsvOptions {
        client_column: Some(ColumnRef::Name("client".into())),
        ..CsvOptions::new(
            ColumnRef::Name("label".into()),
            LabelSpec::Class { num_classes: 3 },
        )
    }
}

/// Two CSV files with a header, a client column and quoted fields.
fn csv_seeds() -> Vec<String> {
    vec![
        "client,f1,f2,label\na,0.5,1,2\nb,-1.5,2e3,0\na,\"3\",4,1\n".to_string(),
        "f1,label,client,f2\r\n1,0,\"x\"\"y\",2\r\n\r\n3,1,z,4\r\n".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_decodes_and_names_are_unique() {
        let targets = targets();
        let mut names: Vec<&str> = targets.iter().map(Target::name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), targets.len());
        for t in &targets {
            assert!(!t.seeds().is_empty(), "{}", t.name());
            for (i, s) in t.seeds().iter().enumerate() {
                if let Err(e) = t.decode(s) {
                    panic!("{} seed {i}: {e}", t.name());
                }
            }
        }
    }
}
