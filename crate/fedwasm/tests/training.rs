//! Local training: the FEMNIST acceptance runs (native, on the shared data),
//! determinism, and the reconstruction phases.

mod common;
use common::ready;

use fedwasm::backend::CpuBackend;
use fedwasm::data::{synthetic_ratings, Dataset, SyntheticRatings};
use fedwasm::metrics::MetricKind;
use fedwasm::model::{builtin, GraphModel, Model, VariableGroup};
use fedwasm::optim::OptimizerConfig;
use fedwasm::reference::reference_run;
use fedwasm::train::{optimizer_for, reconstruct_and_evaluate, train_local, TrainOptions};

#[cfg(not(target_arch = "wasm32"))]
mod femnist {
    use super::*;
    use fedwasm::data::{load_leaf_dir, ClientData, LeafOptions};
    use fedwasm::train::evaluate;

    fn shared(split: &str) -> std::path::PathBuf {
        common::shared_femnist().join(split)
    }

    /// The digits of the first 10 writers (sorted ids) of the train files, and
    /// the same writers' test data; pixels as stored, or as `1 - x` with
    /// `ink_is_one` (MNIST's convention).
    fn first_ten_writers(ink_is_one: bool) -> (ClientData, ClientData) {
        let opts = LeafOptions {
            digits_only: true,
            max_clients: None,
            ink_is_one,
        };
        let train = load_leaf_dir(&shared("train"), &opts)
            .unwrap()
            .take_clients(10);
        let ids = train.client_ids();
        let test = load_leaf_dir(&shared("test"), &opts)
            .unwrap()
            .retain_clients(|id| ids.iter().any(|w| w == id));
        (train, test)
    }

    /// Trains `model` for `epochs` epochs (reshuffled each epoch) with SGD at `lr`;
    /// returns the per-epoch training metrics.
    fn fit(model: &mut GraphModel, train: &ClientData, epochs: u64, lr: f32) -> Vec<(f64, f64)> {
        let b = CpuBackend::new();
        let groups = [VariableGroup::GlobalTrainable];
        let mut opt = optimizer_for(&b, model, &groups, OptimizerConfig::sgd(lr)).unwrap();
        let examples = std::sync::Arc::new(train.merged());
        (0..epochs)
            .map(|epoch| {
                let ds = Dataset::from_arc(examples.clone())
                    .shuffle(examples.len(), epoch)
                    .batch(20, false);
                let opts = TrainOptions {
                    seed: 1,
                    first_step: epoch as u32 * 10_000,
                    epoch,
                    ..TrainOptions::default()
                };
                let m = ready(train_local(&b, model, &mut opt, &ds, &groups, opts)).unwrap();
                let loss = m.value(MetricKind::Loss).unwrap();
                let acc = m.value(MetricKind::SparseCategoricalAccuracy).unwrap();
                println!("epoch {epoch}: loss {loss:.4} accuracy {acc:.4}");
                (loss, acc)
            })
            .collect()
    }

    /// The recipe verbatim: softmax regression, zero init, 5 epochs,
    /// batch 20, SGD 0.02, first 10 writers' digits, LEAF pixels as stored
    /// (background 1.0, as TFF's EMNIST). With inputs of squared norm ~700 the
    /// step is near the stability limit: loss falls but slowly, and training
    /// accuracy after 5 epochs is 0.22-0.29 depending on the shuffle (an
    /// independent NumPy implementation gives the same figures; TFF's own
    /// tutorial reaches 0.33 after 10 FedAvg rounds on these pixels). So this
    /// test asserts what holds on raw pixels ...
    #[test]
    fn softmax_regression_on_raw_leaf_pixels() {
        let (train, _) = first_ten_writers(false);
        assert_eq!(train.num_clients(), 10);
        assert_eq!(train.num_examples(), 766);
        let b = CpuBackend::new();
        let mut model = GraphModel::new(builtin::softmax_regression(), &b, 0).unwrap();
        let history = fit(&mut model, &train, 5, 0.02);
        assert!(history[4].0 < history[0].0 - 0.3, "loss falls: {history:?}");
        assert!(history[4].1 > 0.2, "twice chance: {history:?}");
    }

    /// ... and with MNIST's pixel convention (`LeafOptions::ink_is_one`: ink 1,
    /// background 0) the same recipe lowers the training loss every epoch and
    /// passes 0.5 training accuracy (about 0.77).
    #[test]
    fn softmax_regression_learns_femnist_digits() {
        let (train, _) = first_ten_writers(true);
        let b = CpuBackend::new();
        let mut model = GraphModel::new(builtin::softmax_regression(), &b, 0).unwrap();
        let history = fit(&mut model, &train, 5, 0.02);
        for w in history.windows(2) {
            assert!(
                w[1].0 < w[0].0,
                "training loss must fall every epoch: {history:?}"
            );
        }
        assert!(history[4].1 > 0.5, "training accuracy {history:?}");
    }

    /// cnn_dropout on raw LEAF pixels, 8 epochs of SGD 0.1, batch 20: test
    /// accuracy on the same writers' 89 test digits (0.97 when measured).
    #[test]
    fn cnn_dropout_passes_80_percent_on_test_data() {
        let (train, test) = first_ten_writers(false);
        let b = CpuBackend::new();
        let mut model = GraphModel::new(builtin::cnn_dropout(10), &b, 0).unwrap();
        fit(&mut model, &train, 8, 0.1);
        let test_ds = Dataset::from_examples(test.merged()).batch(50, false);
        let m = ready(evaluate(&b, &model, &test_ds)).unwrap();
        let acc = m.value(MetricKind::SparseCategoricalAccuracy).unwrap();
        println!(
            "cnn test accuracy {acc:.4} on {} examples",
            m.value(MetricKind::NumExamples).unwrap()
        );
        assert!(acc > 0.8, "test accuracy {acc}");
    }
}

async fn same_seed_gives_identical_runs() {
    let a = reference_run(3).await.unwrap();
    let b = reference_run(3).await.unwrap();
    assert_eq!(a, b, "bit-identical digests for the same seed");
    let c = reference_run(4).await.unwrap();
    assert_ne!(a.classifier_weights, c.classifier_weights);
    // The run learns something: loss falls over the three epochs.
    assert!(
        a.classifier_losses[2] < a.classifier_losses[0],
        "{:?}",
        a.classifier_losses
    );
}

fn mf_setup() -> (CpuBackend, GraphModel, Dataset) {
    let b = CpuBackend::new();
    let ratings = synthetic_ratings(&SyntheticRatings {
        num_users: 3,
        num_items: 12,
        rank: 2,
        ratings_per_user: 12,
        noise_std: 0.1,
        seed: 5,
    })
    .unwrap();
    let id = ratings.clients.client_ids()[0].clone();
    let ds = ratings
        .clients
        .dataset_for_client(&id)
        .unwrap()
        .batch(3, false);
    let model = GraphModel::new(builtin::matrix_factorization(12, 2), &b, 1).unwrap();
    (b, model, ds)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn reconstruction_phases_freeze_the_other_group() {
    let (b, mut model, ds) = mf_setup();
    let before = model.values().to_vec();
    // Phase 1: only the local user vector moves.
    let mut opt = optimizer_for(
        &b,
        &model,
        &[VariableGroup::LocalTrainable],
        OptimizerConfig::sgd(0.1),
    )
    .unwrap();
    ready(train_local(
        &b,
        &mut model,
        &mut opt,
        &ds,
        &[VariableGroup::LocalTrainable],
        TrainOptions::default(),
    ))
    .unwrap();
    assert_eq!(
        model.values()[0],
        before[0],
        "global item table frozen during reconstruction"
    );
    assert_ne!(model.values()[1], before[1], "local user vector trained");
    // Phase 2: only the global table moves.
    let mid = model.values().to_vec();
    let mut opt = optimizer_for(
        &b,
        &model,
        &[VariableGroup::GlobalTrainable],
        OptimizerConfig::sgd(0.1),
    )
    .unwrap();
    ready(train_local(
        &b,
        &mut model,
        &mut opt,
        &ds,
        &[VariableGroup::GlobalTrainable],
        TrainOptions::default(),
    ))
    .unwrap();
    assert_ne!(model.values()[0], mid[0]);
    assert_eq!(
        model.values()[1],
        mid[1],
        "local vector frozen after reconstruction"
    );
}

async fn reconstruction_lowers_the_evaluation_loss() {
    let (b, mut model, ds) = mf_setup();
    let split = fedwasm::data::ReconstructionSplit {
        recon_epochs: 20,
        split_dataset: true,
        ..Default::default()
    };
    let before = fedwasm::train::evaluate(&b, &model, &ds).await.unwrap();
    // Train the item table first so a good user vector exists.
    let mut opt = optimizer_for(
        &b,
        &model,
        &[
            VariableGroup::GlobalTrainable,
            VariableGroup::LocalTrainable,
        ],
        OptimizerConfig::sgd(0.2),
    )
    .unwrap();
    let groups = [
        VariableGroup::GlobalTrainable,
        VariableGroup::LocalTrainable,
    ];
    train_local(
        &b,
        &mut model,
        &mut opt,
        &ds.repeat(50),
        &groups,
        TrainOptions::default(),
    )
    .await
    .unwrap();
    model
        .reinitialize(&b, &[VariableGroup::LocalTrainable], 9)
        .unwrap();
    let after =
        reconstruct_and_evaluate(&b, &mut model, &OptimizerConfig::sgd(0.2), &split, &ds, 0)
            .await
            .unwrap();
    let (l0, l1) = (
        before.value(MetricKind::Loss).unwrap(),
        after.value(MetricKind::Loss).unwrap(),
    );
    assert!(l1 < 0.5 * l0, "reconstructed loss {l1} vs initial {l0}");
}

cpu_tests! {
    same_seed_gives_identical_runs,
    reconstruction_lowers_the_evaluation_loss,
}
