//! A short, fully deterministic training run whose digest the native build
//! and the wasm32 build must agree on (`tests/node/cross_target.test.mjs`
//! compares `fedwasm reference-run` with the wasm export `referenceRun`).
//!
//! It touches every layer kind, both losses families, dropout, Adam and SGD
//! with momentum, and seed 000's reconstruction: a small convolutional
//! classifier on synthetic non-IID images, then matrix factorisation with
//! local user vectors on synthetic low-rank ratings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, CpuBackend};
use crate::data::{
    synthetic_classification, synthetic_ratings, Dataset, SyntheticClassification, SyntheticRatings,
};
use crate::error::Result;
use crate::metrics::MetricKind;
use crate::model::{builtin, GraphModel, Model, ModelSpec, VariableGroup};
use crate::optim::OptimizerConfig;
use crate::train::{
    evaluate, optimizer_for, reconstruct_and_train, train_local, ReconstructionConfig, TrainOptions,
};

/// What the reference run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDigest {
    /// Training loss of the classifier after each epoch.
    pub classifier_losses: Vec<f64>,
    /// Evaluation loss and accuracy of the classifier.
    pub classifier_eval: BTreeMap<String, f64>,
    /// Final classifier variables by name.
    pub classifier_weights: BTreeMap<String, Vec<f32>>,
    /// Post-reconstruction training loss of each MF client.
    pub mf_losses: Vec<f64>,
    /// Final MF variables (item table, last user vector).
    pub mf_weights: BTreeMap<String, Vec<f32>>,
}

/// The classifier of the reference run, as a JSON description (this doubles
/// as an example of the format).
pub const REFERENCE_CLASSIFIER: &str = r#"{
  "name": "reference_classifier",
  "input_shape": [64],
  "label": {"class": {"num_classes": 10}},
  "layers": [
    {"name": "image", "layer": {"reshape": {"shape": [8, 8, 1]}}},
    {"name": "conv", "layer": {"conv2d": {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}}},
    {"name": "conv5", "layer": {"conv2d": {"filters": 3, "kernel_size": 5, "padding": "valid"}}},
    {"name": "relu", "layer": "relu"},
    {"name": "pool", "layer": "max_pool2d"},
    {"name": "dropout", "layer": {"dropout": {"rate": 0.25}}},
    {"name": "flatten", "layer": "flatten"},
    {"name": "hidden", "layer": {"dense": {"units": 16, "activation": "relu", "kernel_initializer": {"normal": {"mean": 0.0, "stddev": 0.2}}}}},
    {"name": "logits", "layer": {"dense": {"units": 10}}}
  ],
  "loss": {"sparse_categorical_crossentropy": {"from_logits": true}},
  "metrics": ["sparse_categorical_accuracy"]
}"#;

async fn read_all(b: &dyn Backend, model: &dyn Model) -> Result<BTreeMap<String, Vec<f32>>> {
    let mut out = BTreeMap::new();
    for (v, t) in model.variables().iter().zip(model.values()) {
        out.insert(v.name.clone(), b.read(t).await?);
    }
    Ok(out)
}

/// Runs the reference workload on the CPU backend.
///
/// # Errors
/// Any error of the pieces it runs (none are expected).
pub async fn reference_run(seed: u64) -> Result<RunDigest> {
    let b = CpuBackend::new();
    // Part 1: a classifier, 3 epochs of Adam with dropout.
    let clients = synthetic_classification(&SyntheticClassification {
        num_clients: 4,
        examples_per_client: 40,
        num_classes: 10,
        dim: 64,
        dirichlet_alpha: 0.5,
        noise_std: 0.5,
        seed,
    })?;
    let mut model = GraphModel::new(ModelSpec::from_json(REFERENCE_CLASSIFIER)?, &b, seed)?;
    let groups = [VariableGroup::GlobalTrainable];
    let mut opt = optimizer_for(&b, &model, &groups, OptimizerConfig::adam(0.01))?;
    let mut classifier_losses = Vec::new();
    let data = std::sync::Arc::new(clients.merged());
    let eval_data = Dataset::from_arc(data.clone()).batch(16, false);
    for epoch in 0..3u64 {
        let ds = Dataset::from_arc(data.clone())
            .shuffle(64, seed + epoch)
            .batch(10, false);
        let opts = TrainOptions {
            seed,
            first_step: (epoch as u32) * 1000,
            epoch,
            ..TrainOptions::default()
        };
        let m = train_local(&b, &mut model, &mut opt, &ds, &groups, opts).await?;
        classifier_losses.push(m.value(MetricKind::Loss).unwrap_or(f64::NAN));
    }
    let classifier_eval = evaluate(&b, &model, &eval_data).await?.finalize()?;
    let classifier_weights = read_all(&b, &model).await?;

    // Part 2: matrix factorisation with reconstruction, client by client.
    let ratings = synthetic_ratings(&SyntheticRatings {
        num_users: 6,
        num_items: 20,
        rank: 3,
        ratings_per_user: 20,
        noise_std: 0.1,
        seed,
    })?;
    let mut mf = GraphModel::new(builtin::matrix_factorization(20, 4), &b, seed)?;
    let config = ReconstructionConfig {
        client_optimizer: OptimizerConfig::sgdm(0.05, Some(0.9)),
        ..ReconstructionConfig::default()
    };
    let mut mf_losses = Vec::new();
    for (i, id) in ratings.clients.client_ids().iter().enumerate() {
        mf.reinitialize(&b, &[VariableGroup::LocalTrainable], seed + i as u64)?;
        let ds = ratings.clients.dataset_for_client(id)?.batch(5, false);
        let m = reconstruct_and_train(&b, &mut mf, &config, &ds, seed).await?;
        mf_losses.push(m.value(MetricKind::Loss).unwrap_or(f64::NAN));
    }
    let mf_weights = read_all(&b, &mf).await?;
    Ok(RunDigest {
        classifier_losses,
        classifier_eval,
        classifier_weights,
        mf_losses,
        mf_weights,
    })
}
