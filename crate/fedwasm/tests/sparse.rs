//! Sparse embedding gradients give the dense results: for every optimizer
//! rule, updating a table from [`RowGradient`]s (only the touched rows where
//! the rule allows, densified otherwise) matches updating it from the dense
//! scatter of the same lookups, within 1e-6 relative, for single kernels and
//! for whole local training runs of the matrix-factorisation model. Plus the
//! error cases. Runs natively and under wasm32 (Node).

mod common;

use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::data::{synthetic_ratings, Dataset, SyntheticRatings};
use fedwasm::gradient::{Gradient, RowGradient};
use fedwasm::layers::Mode;
use fedwasm::model::{builtin, DeviceBatch, GraphModel, Model, VariableGroup};
use fedwasm::optim::{Optimizer, OptimizerConfig, UpdateRule};
use fedwasm::rng::Rng;
use fedwasm::train::{optimizer_for, train_local, Divergence, TrainOptions};
use fedwasm::{Error, Tensor};

/// Every rule, with a learning rate that moves the weights visibly.
fn every_rule() -> Vec<(&'static str, OptimizerConfig)> {
    vec![
        ("sgd", OptimizerConfig::sgd(0.3)),
        ("sgdm", OptimizerConfig::sgdm(0.1, Some(0.9))),
        ("nesterov", OptimizerConfig::nesterov(0.1, 0.9)),
        ("adam", OptimizerConfig::adam(0.05)),
        ("adagrad", OptimizerConfig::adagrad(0.2)),
        (
            // The denominator is 0 in untouched rows: the dense update gives
            // NaN there, so this one must not take the sparse path.
            "adagrad without accumulator or epsilon",
            OptimizerConfig::with_rule(
                UpdateRule::Adagrad {
                    initial_accumulator_value: 0.0,
                    epsilon: 0.0,
                },
                0.2,
            ),
        ),
        ("yogi", OptimizerConfig::yogi(0.05)),
        ("rmsprop", OptimizerConfig::rmsprop(0.01)),
    ]
}

/// `a` and `b` agree within 1e-6 relative (NaNs must match NaNs).
fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        if x.is_nan() || y.is_nan() {
            assert!(x.is_nan() && y.is_nan(), "{what}[{i}]: {x} vs {y}");
            continue;
        }
        let err = (x - y).abs() / x.abs().max(y.abs()).max(1e-6);
        assert!(err <= 1e-6, "{what}[{i}]: {x} vs {y} (rel err {err:e})");
    }
}

fn random(b: &dyn Backend, shape: &[usize], rng: &mut Rng) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    b.upload(shape, &v).unwrap()
}

/// One table updated for several steps by `dy` at ids (with repeats), dense
/// versus sparse, on backend `b`.
fn kernel_equivalence(b: &dyn Backend) {
    let (v, k, n) = (11, 3, 7);
    for (name, config) in every_rule() {
        let mut rng = Rng::new(21);
        let w0 = random(b, &[v, k], &mut rng);
        let (mut wd, mut ws) = (w0.clone(), w0);
        let shapes = [vec![v, k]];
        let mut od = Optimizer::new(config.clone(), b, &shapes).unwrap();
        let mut os = Optimizer::new(config, b, &shapes).unwrap();
        for step in 0..5 {
            // 7 lookups among rows 0..6: repeats guaranteed; rows 6..11 never touched.
            let ids: Vec<f32> = (0..n).map(|_| rng.below(6) as f32).collect();
            let ids = b.upload(&[n], &ids).unwrap();
            let dy = random(b, &[n, k], &mut rng);
            let dense = b.scatter_add_rows(&dy, &ids, v).unwrap();
            let sparse = Gradient::Rows(b.gather_rows_backward(&dy, &ids, v).unwrap());
            od.apply(b, &mut [&mut wd], &[&dense]).unwrap();
            os.apply_gradients(b, &mut [&mut ws], &[&sparse]).unwrap();
            let what = format!("{name}, step {step}");
            assert_close(&what, &wd.to_f64_vec(), &ws.to_f64_vec());
            for (sd, ss) in od.slots()[0].iter().zip(&os.slots()[0]) {
                assert_close(&format!("{what}, slot"), &sd.to_f64_vec(), &ss.to_f64_vec());
            }
        }
        assert_eq!(od.step_count(), os.step_count());
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sparse_updates_equal_dense_updates_for_every_rule() {
    kernel_equivalence(&CpuBackend::new());
    kernel_equivalence(&CpuBackend::f64());
}

/// The rows of the sparse gradient are the dense scatter's rows, summed in
/// the same order: equal bit for bit. By hand: ids [2, 0, 2] with dy rows
/// [1, 2], [3, 4], [5, 6] give row 0 = [3, 4] and row 2 = [1+5, 2+6].
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn row_gradient_by_hand_and_against_the_scatter() {
    let b = CpuBackend::new();
    let dy = b.upload(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let ids = b.upload(&[3], &[2.0, 0.0, 2.0]).unwrap();
    let g = b.gather_rows_backward(&dy, &ids, 4).unwrap();
    assert_eq!(g.rows(), &[0, 2]);
    assert_eq!(g.shape(), &[4, 2]);
    assert_eq!(g.values().as_f32().unwrap(), &[3.0, 4.0, 6.0, 8.0]);
    let mut rng = Rng::new(4);
    for (n, v) in [(1, 1), (5, 2), (40, 7), (3, 1000)] {
        let ids: Vec<f32> = (0..n).map(|_| rng.below(v as u64) as f32).collect();
        let ids = b.upload(&[n], &ids).unwrap();
        let dy = random(&b, &[n, 5], &mut rng);
        let dense = b.scatter_add_rows(&dy, &ids, v).unwrap();
        let sparse = b.gather_rows_backward(&dy, &ids, v).unwrap();
        assert_eq!(sparse.to_dense(&b).unwrap(), dense, "n {n}, v {v}");
    }
}

/// Local training of seed 003's model through `train_local` (sparse table
/// gradients) against a loop over `forward_backward` (dense gradients) and
/// `Optimizer::apply`, for every rule: same weights after every batch.
async fn local_training_with_sparse_gradients_equals_dense_training() {
    let b = CpuBackend::new();
    let data = synthetic_ratings(&SyntheticRatings {
        num_users: 1,
        num_items: 30,
        ratings_per_user: 24,
        ..SyntheticRatings::default()
    })
    .unwrap();
    let ds = Dataset::from_examples(data.clients.merged())
        .shuffle(24, 42)
        .batch(5, false);
    for (name, config) in every_rule() {
        for groups in [
            vec![VariableGroup::GlobalTrainable],
            vec![
                VariableGroup::GlobalTrainable,
                VariableGroup::LocalTrainable,
            ],
        ] {
            let spec = builtin::matrix_factorization(30, 4);
            let mut sparse = GraphModel::new(spec.clone(), &b, 9).unwrap();
            let mut dense = GraphModel::new(spec, &b, 9).unwrap();
            let mut os = optimizer_for(&b, &sparse, &groups, config.clone()).unwrap();
            let mut od = optimizer_for(&b, &dense, &groups, config.clone()).unwrap();
            let wrt: Vec<bool> = dense
                .variables()
                .iter()
                .map(|v| groups.contains(&v.group))
                .collect();
            for (i, batch) in ds.batches().unwrap().enumerate() {
                // One batch at a time through train_local, so every step is compared.
                let one = Dataset::from_examples(
                    fedwasm::data::Examples::new(
                        ds.element_spec().clone(),
                        batch.as_ref().unwrap().x.to_f32_vec(),
                        batch.as_ref().unwrap().y.to_f32_vec(),
                    )
                    .unwrap(),
                )
                .batch(5, false);
                // One rule's update is NaN by design (see every_rule): the
                // comparison follows the NaNs instead of stopping at them.
                let opts = TrainOptions {
                    divergence: Divergence::Continue,
                    ..TrainOptions::default()
                };
                train_local(&b, &mut sparse, &mut os, &one, &groups, opts)
                    .await
                    .unwrap();
                let db = DeviceBatch::upload(&b, &batch.unwrap()).unwrap();
                let (_, grads) = dense
                    .forward_backward(&b, &db, Mode::training(0, 0), &wrt)
                    .unwrap();
                let grads: Vec<Tensor> = grads.into_iter().flatten().collect();
                let grefs: Vec<&Tensor> = grads.iter().collect();
                let mut vars: Vec<&mut Tensor> = dense
                    .values_mut()
                    .iter_mut()
                    .zip(&wrt)
                    .filter(|(_, &w)| w)
                    .map(|(v, _)| v)
                    .collect();
                od.apply(&b, &mut vars, &grefs).unwrap();
                for (vi, (s, d)) in sparse.values().iter().zip(dense.values()).enumerate() {
                    let what = format!("{name}, {} groups, batch {i}, variable {vi}", groups.len());
                    assert_close(&what, &s.to_f64_vec(), &d.to_f64_vec());
                }
            }
            // Training moved the table (the comparison is not of untouched weights).
            let fresh = GraphModel::new(builtin::matrix_factorization(30, 4), &b, 9).unwrap();
            assert_ne!(sparse.values()[0], fresh.values()[0], "{name}");
        }
    }
}

/// `forward_backward_sparse` gives the table's gradient as rows, and its
/// dense form is what `forward_backward` gives.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn model_gradients_are_sparse_for_the_table_only() {
    let b = CpuBackend::f64();
    let m = GraphModel::new(builtin::matrix_factorization(9, 3), &b, 1).unwrap();
    let db = DeviceBatch {
        x: Tensor::from_f64(&[4, 1], vec![7.0, 2.0, 7.0, 5.0]).unwrap(),
        y: Tensor::from_f64(&[4], vec![3.0, 4.0, 1.0, 5.0]).unwrap(),
    };
    let wrt = vec![true; m.variables().len()];
    let (_, sparse) = m
        .forward_backward_sparse(&b, &db, Mode::training(0, 0), &wrt)
        .unwrap();
    let (_, dense) = m
        .forward_backward(&b, &db, Mode::training(0, 0), &wrt)
        .unwrap();
    let table = m
        .variables()
        .iter()
        .position(|v| v.name == "item_embedding/embeddings")
        .unwrap();
    for (vi, (s, d)) in sparse.into_iter().zip(dense).enumerate() {
        let (s, d) = (s.unwrap(), d.unwrap());
        match &s {
            Gradient::Rows(r) => {
                assert_eq!(vi, table);
                assert_eq!(r.rows(), &[2, 5, 7]);
            }
            Gradient::Dense(_) => assert_ne!(vi, table),
        }
        assert_eq!(s.into_dense(&b).unwrap(), d);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sparse_errors_are_clear() {
    let b = CpuBackend::new();
    let dy = b.upload(&[2, 3], &[1.0; 6]).unwrap();
    let err = b
        .gather_rows_backward(&dy, &b.upload(&[2], &[0.0, 4.0]).unwrap(), 4)
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains("0..4"),
        "{err}"
    );
    let err = b
        .gather_rows_backward(&dy, &b.upload(&[2], &[0.0, 1.5]).unwrap(), 4)
        .unwrap_err();
    assert!(err.to_string().contains("1.5"), "{err}");
    let err = b
        .gather_rows_backward(&dy, &b.upload(&[3], &[0.0; 3]).unwrap(), 4)
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");

    let g = b
        .gather_rows_backward(&dy, &b.upload(&[2], &[3.0, 1.0]).unwrap(), 4)
        .unwrap();
    let mut w = b.zeros(&[4, 3]).unwrap();
    // Adam moves untouched rows too: the backend refuses the sparse step.
    let err = b
        .optimizer_step_rows(
            &UpdateRule::adam(),
            1,
            0.1,
            &mut w,
            &g,
            &mut [b.zeros(&[4, 3]).unwrap(), b.zeros(&[4, 3]).unwrap()],
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Optimizer { .. }) && err.to_string().contains("densify"),
        "{err}"
    );
    let mut wrong = b.zeros(&[5, 3]).unwrap();
    let err = b
        .optimizer_step_rows(&UpdateRule::sgd(), 1, 0.1, &mut wrong, &g, &mut [])
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let mut w64 = CpuBackend::f64().zeros(&[4, 3]).unwrap();
    let err = b
        .optimizer_step_rows(&UpdateRule::sgd(), 1, 0.1, &mut w64, &g, &mut [])
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err}");
    assert!(w64.to_f64_vec().iter().all(|&x| x == 0.0));
    // The optimizer checks a sparse gradient's shape like a dense one's.
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.1), &b, &[vec![5, 3]]).unwrap();
    let err = opt
        .apply_gradients(&b, &mut [&mut wrong], &[&Gradient::Rows(g.clone())])
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert_eq!(opt.step_count(), 0);
    // A hand-made row gradient is validated.
    let values = b.zeros(&[2, 3]).unwrap();
    assert!(RowGradient::new(4, vec![1, 1], values.clone()).is_err());
    assert!(RowGradient::new(4, vec![1, 2], values).is_ok());
}

cpu_tests! {
    local_training_with_sparse_gradients_equals_dense_training,
}
