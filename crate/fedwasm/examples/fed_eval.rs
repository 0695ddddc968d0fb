//! Federated evaluation (TFF's `build_fed_eval`): train a softmax regression
//! with FedAvg on the embedded FEMNIST digits, and after every round copy the
//! trained weights into the evaluation process (`set_model_weights`) and
//! evaluate on each writer's test digits. The evaluation state keeps the
//! metrics of the current round and of all rounds so far.
//!
//! Run: `cargo run --release -p fedwasm --example fed_eval`

use std::rc::Rc;

use fedwasm::backend::CpuBackend;
use fedwasm::data::femnist_digits;
use fedwasm::federated::{
    self, build_fed_eval, build_weighted_fed_avg, ClientWeighting, FedAvgConfig,
};
use fedwasm::metrics::MetricKind;
use fedwasm::model::builtin;
use fedwasm::optim::OptimizerConfig;

fn main() -> fedwasm::Result<()> {
    let (train, test) = femnist_digits()?;
    let backend = Rc::new(CpuBackend::new());
    let model = federated::model_fn(builtin::softmax_regression());
    let trainer = build_weighted_fed_avg(
        model.clone(),
        backend.clone(),
        FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.02)),
        ClientWeighting::NumExamples,
    )?;
    let evaluator = build_fed_eval(model, backend)?;
    let mut train_state = pollster::block_on(trainer.initialize())?;
    let mut eval_state = pollster::block_on(evaluator.initialize())?;
    let test_clients =
        federated::client_datasets(&test, &test.client_ids(), |ds| ds.batch(20, false))?;
    for round in 1..=8u64 {
        let ids = federated::sample_client_ids(&train, 5, 0, round)?;
        let clients = federated::client_datasets(&train, &ids, |ds| {
            ds.repeat(5).shuffle(100, round).batch(20, false)
        })?;
        let out = pollster::block_on(trainer.next(&train_state, &clients))?;
        train_state = out.state;
        eval_state =
            evaluator.set_model_weights(&eval_state, trainer.get_model_weights(&train_state)?)?;
        let eval = pollster::block_on(evaluator.next(&eval_state, &test_clients))?;
        eval_state = eval.state;
        println!(
            "round {round}: clients {ids:?}, train loss {:.3}, test loss {:.3}, test accuracy {:.3}",
            out.metrics.train(MetricKind::Loss).unwrap_or(f64::NAN),
            eval.metrics.eval(MetricKind::Loss).unwrap_or(f64::NAN),
            eval.metrics
                .eval(MetricKind::SparseCategoricalAccuracy)
                .unwrap_or(f64::NAN),
        );
        if round == 8 {
            println!("last evaluation metrics={}", eval.metrics.to_json()?);
        }
    }
    Ok(())
}
