//! Federated Reconstruction (TFF's `build_fed_recon`) on synthetic low-rank
//! ratings: each user's vector is local (never leaves the client) and is
//! reconstructed every round; the item embeddings are learned federatedly.
//! Held-out users are evaluated with `build_fed_recon_eval`: their vectors
//! are reconstructed from half of their ratings and the other half is scored.
//! The test RMSE approaches the generator's noise level.
//!
//! Run: `cargo run --release -p fedwasm --example fed_recon`

use std::rc::Rc;

use fedwasm::backend::CpuBackend;
use fedwasm::data::{synthetic_ratings, ClientData, ReconstructionSplit, SyntheticRatings};
use fedwasm::federated::{
    self, build_fed_recon, build_fed_recon_eval, FedReconConfig, FedReconEvalConfig,
};
use fedwasm::metrics::MetricKind;
use fedwasm::model::builtin;
use fedwasm::optim::OptimizerConfig;
use fedwasm::train::ReconstructionConfig;

fn main() -> fedwasm::Result<()> {
    let cfg = SyntheticRatings {
        num_users: 120,
        num_items: 30,
        rank: 2,
        ratings_per_user: 30,
        noise_std: 0.3,
        seed: 1,
    };
    let data = synthetic_ratings(&cfg)?;
    let ids = data.clients.client_ids();
    let train = data
        .clients
        .retain_clients(|id| ids[..100].iter().any(|t| t == id));
    let test = data
        .clients
        .retain_clients(|id| ids[100..].iter().any(|t| t == id));
    let backend = Rc::new(CpuBackend::new());
    // Rank 2 plus room for the mean rating of 3.0 (the model has no bias).
    let model = federated::model_fn(builtin::matrix_factorization(cfg.num_items, 4));
    let split = ReconstructionSplit {
        recon_epochs: 10,
        post_recon_epochs: 1,
        split_dataset: true,
        ..ReconstructionSplit::default()
    };
    let process = build_fed_recon(
        model.clone(),
        backend.clone(),
        FedReconConfig {
            reconstruction: ReconstructionConfig {
                reconstruction_optimizer: OptimizerConfig::sgd(0.5),
                client_optimizer: OptimizerConfig::sgd(0.3),
                split: split.clone(),
            },
            ..FedReconConfig::default()
        },
    )?;
    let eval = build_fed_recon_eval(
        model,
        backend,
        FedReconEvalConfig {
            reconstruction_optimizer: OptimizerConfig::sgd(0.5),
            split,
            seed: 7,
        },
    )?;
    let batches = |cd: &ClientData, ids: &[String], round: u64| {
        federated::client_datasets(cd, ids, |ds| ds.shuffle(64, round).batch(5, false))
    };
    let test_clients = batches(&test, &test.client_ids(), 0)?;
    let mut state = pollster::block_on(process.initialize())?;
    for round in 0..100 {
        let ids = federated::sample_client_ids(&train, 20, 1, round)?;
        let out = pollster::block_on(process.next(&state, &batches(&train, &ids, round)?))?;
        state = out.state;
        if round % 10 == 9 {
            let eval_state = eval.set_model_weights(
                &pollster::block_on(eval.initialize())?,
                process.get_model_weights(&state)?,
            )?;
            let m = pollster::block_on(eval.next(&eval_state, &test_clients))?.metrics;
            let rmse = m
                .eval(MetricKind::MeanSquaredError)
                .unwrap_or(f64::NAN)
                .sqrt();
            println!(
                "round {:3}: train loss {:.4}, held-out RMSE {rmse:.4} (noise {})",
                round + 1,
                out.metrics.train(MetricKind::Loss).unwrap_or(f64::NAN),
                cfg.noise_std
            );
        }
    }
    Ok(())
}
