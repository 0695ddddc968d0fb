//! FedProx next to FedAvg on the embedded FEMNIST digits: each of 10 writers
//! trains 5 local epochs per round; FedProx adds `mu * (w - w_global)` to
//! every gradient, which keeps client models near the broadcast model. The
//! table shows the training loss and how far each round moved the global
//! model, for mu = 0 (FedAvg), 0.1 and 1.0.
//!
//! Run: `cargo run --release -p fedwasm --example fed_prox`

use std::rc::Rc;

use fedwasm::backend::CpuBackend;
use fedwasm::data::femnist_digits;
use fedwasm::federated::{self, build_fed_prox, ClientWeighting, FedAvgConfig, ModelWeights};
use fedwasm::metrics::MetricKind;
use fedwasm::model::builtin;
use fedwasm::optim::OptimizerConfig;

/// Euclidean distance between two sets of trainable weights.
fn distance(a: &ModelWeights, b: &ModelWeights) -> f64 {
    a.trainable
        .iter()
        .zip(&b.trainable)
        .flat_map(|(x, y)| x.data.iter().zip(&y.data))
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn main() -> fedwasm::Result<()> {
    let (train, _test) = femnist_digits()?;
    let ids = train.client_ids();
    for mu in [0.0, 0.1, 1.0] {
        let process = build_fed_prox(
            federated::model_fn(builtin::softmax_regression()),
            Rc::new(CpuBackend::new()),
            FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.02)),
            mu,
            ClientWeighting::NumExamples,
        )?;
        let mut state = pollster::block_on(process.initialize())?;
        let mut line = format!("mu = {mu:<5}");
        for round in 1..=6u64 {
            let clients = federated::client_datasets(&train, &ids, |ds| {
                ds.repeat(5).shuffle(100, round).batch(20, false)
            })?;
            let out = pollster::block_on(process.next(&state, &clients))?;
            let moved = distance(
                &process.get_model_weights(&out.state)?,
                &process.get_model_weights(&state)?,
            );
            let loss = out.metrics.train(MetricKind::Loss).unwrap_or(f64::NAN);
            line += &format!(" | r{round}: loss {loss:.3}, moved {moved:.3}");
            state = out.state;
        }
        println!("{line}");
    }
    Ok(())
}
