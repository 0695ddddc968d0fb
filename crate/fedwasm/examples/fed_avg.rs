//! Federated Averaging as in TFF's EMNIST tutorial (seed 002): softmax
//! regression on the embedded FEMNIST digits of 10 writers, each writer a
//! client; per round every client trains 5 epochs of batch 20 with SGD 0.02,
//! the server averages (SGD 1.0). Prints each round's metrics in TFF's
//! nesting, then evaluates the global model on the writers' test digits
//! with `build_fed_eval`.
//!
//! Run: `cargo run --release -p fedwasm --example fed_avg`

use std::rc::Rc;

use fedwasm::backend::CpuBackend;
use fedwasm::data::femnist_digits;
use fedwasm::federated::{
    self, build_fed_eval, build_weighted_fed_avg, ClientWeighting, FedAvgConfig,
};
use fedwasm::model::builtin;
use fedwasm::optim::OptimizerConfig;

const NUM_EPOCHS: usize = 5;
const BATCH_SIZE: usize = 20;
const SHUFFLE_BUFFER: usize = 100;

fn main() -> fedwasm::Result<()> {
    let (train, test) = femnist_digits()?;
    let backend = Rc::new(CpuBackend::new());
    let model = federated::model_fn(builtin::softmax_regression());
    let process = build_weighted_fed_avg(
        model.clone(),
        backend.clone(),
        FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.02)),
        ClientWeighting::NumExamples,
    )?;
    let mut state = pollster::block_on(process.initialize())?;
    let ids = train.client_ids();
    for round in 1..=10u64 {
        // A fresh shuffle each round, as tf.data's reshuffle_each_iteration.
        let clients = federated::client_datasets(&train, &ids, |ds| {
            ds.repeat(NUM_EPOCHS)
                .shuffle(SHUFFLE_BUFFER, round)
                .batch(BATCH_SIZE, false)
        })?;
        let out = pollster::block_on(process.next(&state, &clients))?;
        println!("round {round:2}, metrics={}", out.metrics.to_json()?);
        state = out.state;
    }
    let eval = build_fed_eval(model, backend)?;
    let eval_state = eval.set_model_weights(
        &pollster::block_on(eval.initialize())?,
        process.get_model_weights(&state)?,
    )?;
    let test_clients =
        federated::client_datasets(&test, &test.client_ids(), |ds| ds.batch(BATCH_SIZE, false))?;
    let out = pollster::block_on(eval.next(&eval_state, &test_clients))?;
    println!("test metrics={}", out.metrics.to_json()?);
    Ok(())
}
