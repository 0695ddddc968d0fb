//! Model descriptions, partitions, built-in models, weights and graph-level
//! gradients.

mod common;
use common::ready;

use fedwasm::backend::CpuBackend;
use fedwasm::data::{Batch, LabelSpec};
use fedwasm::layers::Mode;
use fedwasm::model::{
    assign_weights, builtin, check_batch, DeviceBatch, GraphModel, Model, ModelSpec, PartitionSpec,
    VariableGroup, WeightsSnapshot,
};
use fedwasm::reference::REFERENCE_CLASSIFIER;
use fedwasm::rng::Rng;
use fedwasm::tensor::Tensor;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn builtin_parameter_counts() {
    let b = CpuBackend::new();
    let count = |spec| GraphModel::new(spec, &b, 0).unwrap().num_parameters();
    assert_eq!(count(builtin::softmax_regression()), 7_850);
    assert_eq!(count(builtin::cnn_dropout(10)), 1_199_882);
    assert_eq!(count(builtin::cnn_dropout(62)), 1_206_590);
    assert_eq!(
        count(builtin::matrix_factorization(3706, 50)),
        3706 * 50 + 50
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn softmax_regression_starts_at_zero_and_uniform() {
    let b = CpuBackend::new();
    let m = GraphModel::new(builtin::softmax_regression(), &b, 9).unwrap();
    assert!(m
        .values()
        .iter()
        .all(|t| t.to_f32_vec().iter().all(|&v| v == 0.0)));
    assert!(m.has_only_global_variables());
    let batch = DeviceBatch {
        x: Tensor::new(&[2, 784], vec![0.3; 1568]).unwrap(),
        y: Tensor::new(&[2], vec![3.0, 7.0]).unwrap(),
    };
    let out = m.forward(&b, &batch, Mode::inference()).unwrap();
    // Uniform probabilities over 10 classes: loss ln 10.
    assert!((out.loss.get(0) - 10f64.ln()).abs() < 1e-5);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn descriptions_round_trip_and_reject_unknown_fields() {
    for spec in [
        builtin::softmax_regression(),
        builtin::cnn_dropout(62),
        builtin::matrix_factorization(10, 3),
        ModelSpec::from_json(REFERENCE_CLASSIFIER).unwrap(),
    ] {
        assert_eq!(ModelSpec::from_json(&spec.to_json()).unwrap(), spec);
    }
    let bad = REFERENCE_CLASSIFIER.replace("\"units\": 10", "\"units\": 10, \"unit\": 3");
    let err = ModelSpec::from_json(&bad).unwrap_err().to_string();
    assert!(err.contains("unknown field `unit`"), "{err}");
    let bad = REFERENCE_CLASSIFIER.replace("max_pool2d", "max_pool3d");
    assert!(ModelSpec::from_json(&bad).is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn graph_errors_are_clear() {
    let b = CpuBackend::new();
    let mut spec = builtin::matrix_factorization(10, 3);
    spec.layers[3].inputs = Some(vec!["user_embedding".into(), "nowhere".into()]);
    let err = GraphModel::new(spec, &b, 0).err().unwrap().to_string();
    assert!(err.contains("\"nowhere\""), "{err}");
    let mut spec = builtin::softmax_regression();
    spec.input_shape = vec![783, 2];
    spec.layers.insert(
        0,
        fedwasm::model::NodeSpec::new("flat", fedwasm::layers::LayerKind::Flatten),
    );
    let m = GraphModel::new(spec, &b, 0);
    assert!(m.is_ok(), "a flatten in front adapts any input shape");
    let mut spec = builtin::softmax_regression();
    spec.label = LabelSpec::Class { num_classes: 62 };
    let err = GraphModel::new(spec, &b, 0).err().unwrap().to_string();
    assert!(err.contains("62"), "{err}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn partitions_by_layer_and_by_variable() {
    let b = CpuBackend::new();
    let m = GraphModel::new(builtin::matrix_factorization(10, 3), &b, 0).unwrap();
    let groups: Vec<_> = m
        .variables()
        .iter()
        .map(|v| (v.name.as_str(), v.group))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("item_embedding/embeddings", VariableGroup::GlobalTrainable),
            ("user_embedding/embedding", VariableGroup::LocalTrainable)
        ]
    );
    assert!(!m.has_only_global_variables());

    let with = |p: PartitionSpec| {
        let mut spec = builtin::matrix_factorization(10, 3);
        spec.partition = Some(p);
        GraphModel::new(spec, &b, 0)
            .map(|m| m.variables().iter().map(|v| v.group).collect::<Vec<_>>())
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // By variable, with a frozen global table.
    assert_eq!(
        with(PartitionSpec::ByVariable {
            global_trainable: vec![],
            global_non_trainable: s(&["item_embedding/embeddings"]),
            local_trainable: s(&["user_embedding/embedding"]),
            local_non_trainable: vec![],
        })
        .unwrap(),
        vec![
            VariableGroup::GlobalNonTrainable,
            VariableGroup::LocalTrainable
        ]
    );
    let errors = [
        with(PartitionSpec::ByLayer {
            global: s(&["item_embedding", "user_embedding"]),
            local: s(&["user_embedding"]),
        }),
        with(PartitionSpec::ByLayer {
            global: s(&["item_embedding"]),
            local: vec![],
        }),
        with(PartitionSpec::ByLayer {
            global: s(&["item_embedding", "ghost"]),
            local: s(&["user_embedding"]),
        }),
        with(PartitionSpec::ByVariable {
            global_trainable: s(&["item_embedding/embeddings", "user_embedding/embedding"]),
            global_non_trainable: vec![],
            local_trainable: s(&["user_embedding/embedding"]),
            local_non_trainable: vec![],
        }),
        with(PartitionSpec::ByVariable {
            global_trainable: s(&["item_embedding/embeddings"]),
            global_non_trainable: vec![],
            local_trainable: vec![],
            local_non_trainable: vec![],
        }),
    ];
    let expected = [
        "listed twice",
        "neither",
        "\"ghost\"",
        "in both",
        "in no group",
    ];
    for (r, want) in errors.into_iter().zip(expected) {
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("partition") && msg.contains(want), "{msg}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn weights_round_trip_through_a_model() {
    let b = CpuBackend::new();
    let src = GraphModel::new(builtin::cnn_dropout(10), &b, 1).unwrap();
    let snap = ready(fedwasm::model::read_weights(&b, &src, |_| true)).unwrap();
    assert_eq!(snap.num_parameters(), 1_199_882);
    let restored = WeightsSnapshot::from_bytes(&snap.to_bytes()).unwrap();
    let mut dst = GraphModel::new(builtin::cnn_dropout(10), &b, 2).unwrap();
    assert_ne!(dst.values()[0], src.values()[0]);
    assign_weights(&b, &mut dst, &restored).unwrap();
    assert_eq!(dst.values(), src.values());
    // Wrong structure: a softmax model's weights into the CNN.
    let soft = GraphModel::new(builtin::softmax_regression(), &b, 0).unwrap();
    let wrong = ready(fedwasm::model::read_weights(&b, &soft, |_| true)).unwrap();
    let err = assign_weights(&b, &mut dst, &wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("dense/kernel"), "{err}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn batches_of_the_wrong_spec_are_rejected() {
    let spec = builtin::softmax_regression().element_spec();
    let batch = Batch {
        x: Tensor::new(&[2, 28, 28], vec![0.0; 1568]).unwrap(),
        y: Tensor::new(&[2], vec![1.0, 2.0]).unwrap(),
    };
    let err = check_batch("m", &spec, &batch).unwrap_err().to_string();
    assert!(
        err.contains("[2, 784]") && err.contains("[2, 28, 28]"),
        "{err}"
    );
    let batch = Batch {
        x: Tensor::new(&[1, 784], vec![0.0; 784]).unwrap(),
        y: Tensor::new(&[1], vec![10.0]).unwrap(),
    };
    let err = check_batch("m", &spec, &batch).unwrap_err().to_string();
    assert!(err.contains("label 10"), "{err}");
}

/// Central differences through a whole graph in f64: branches (MF's two
/// uses of the input), fused activations, pooling, dropout in training mode.
fn graph_gradient_check(spec: ModelSpec, x: Tensor, y: Tensor) {
    let b = CpuBackend::f64();
    let mut m = GraphModel::new(spec, &b, 4).unwrap();
    // Move weights away from zero-init symmetric points.
    let mut rng = Rng::new(8);
    for v in m.values_mut() {
        for i in 0..v.len() {
            let w = v.get(i) + 0.3 * rng.normal();
            v.set(i, w);
        }
    }
    let batch = DeviceBatch { x, y };
    let mode = Mode::training(3, 1);
    let wrt = vec![true; m.variables().len()];
    let (_, grads) = m.forward_backward(&b, &batch, mode, &wrt).unwrap();
    let h = 1e-5;
    for (vi, g) in grads.into_iter().enumerate() {
        let g = g.unwrap();
        let n = m.values()[vi].len();
        for e in (0..n).step_by((n / 15).max(1)) {
            let v = m.values()[vi].get(e);
            m.values_mut()[vi].set(e, v + h);
            let up = m.forward(&b, &batch, mode).unwrap().loss.get(0);
            m.values_mut()[vi].set(e, v - h);
            let down = m.forward(&b, &batch, mode).unwrap().loss.get(0);
            m.values_mut()[vi].set(e, v);
            let num = (up - down) / (2.0 * h);
            let err = (g.get(e) - num).abs() / g.get(e).abs().max(num.abs()).max(1e-6);
            assert!(
                err < 1e-4,
                "{}: element {e}: analytic {} numeric {num}",
                m.variables()[vi].name,
                g.get(e)
            );
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn graph_gradients_match_central_differences() {
    let mut rng = Rng::new(2);
    let x = Tensor::from_f64(&[3, 64], (0..192).map(|_| rng.normal()).collect()).unwrap();
    let y = Tensor::from_f64(&[3], vec![1.0, 7.0, 1.0]).unwrap();
    graph_gradient_check(ModelSpec::from_json(REFERENCE_CLASSIFIER).unwrap(), x, y);
    let ids = Tensor::from_f64(&[4, 1], vec![2.0, 0.0, 2.0, 4.0]).unwrap();
    let ratings = Tensor::from_f64(&[4], vec![4.0, 1.0, 3.5, 5.0]).unwrap();
    graph_gradient_check(builtin::matrix_factorization(5, 3), ids, ratings);
    let mut small_cnn = builtin::cnn_dropout(10);
    if let fedwasm::layers::LayerKind::Dense { units, .. } = &mut small_cnn.layers[6].layer {
        *units = 4;
    }
    let x = Tensor::from_f64(&[1, 784], (0..784).map(|_| rng.uniform()).collect()).unwrap();
    graph_gradient_check(small_cnn, x, Tensor::from_f64(&[1], vec![3.0]).unwrap());
}
