//! One FedAvg round driven through the protocol's pieces, as a coordinator
//! or a page with workers drives it: a `ServerRound` hands out `ClientTask`s
//! (here through their binary encoding, as they would cross a worker or a
//! socket), each client runs `client_update`, and its `ClientUpdate` comes
//! back as bytes and is accepted (validated first), in any order. A bad
//! update is refused with a reason and changes nothing.
//!
//! Run: `cargo run --release -p fedwasm --example protocol_round`

use std::rc::Rc;

use fedwasm::backend::CpuBackend;
use fedwasm::data::{femnist_digits, DatasetPlan};
use fedwasm::federated::{
    self, client_update, ClientTask, ClientUpdate, ClientWeighting, FedAvgConfig,
};
use fedwasm::model::builtin;
use fedwasm::optim::OptimizerConfig;

fn main() -> fedwasm::Result<()> {
    let (train, _) = femnist_digits()?;
    let cpu = Rc::new(CpuBackend::new());
    let process = federated::build_weighted_fed_avg(
        federated::model_fn(builtin::softmax_regression()),
        cpu.clone(),
        FedAvgConfig::with_client_optimizer(OptimizerConfig::sgd(0.02)),
        ClientWeighting::NumExamples,
    )?;
    let state = pollster::block_on(process.initialize())?;
    // A ServerRound needs no model: only the process's spec and the state.
    let mut round = process.begin_round(&state)?;
    let mut model = process.new_model()?;
    let mut updates = Vec::new();
    for (key, id) in train.client_ids().iter().take(4).enumerate() {
        let plan = DatasetPlan::new().repeat(2).shuffle(100, 1).batch(20);
        let task_bytes = round.task(key as u64, plan).to_bytes()?; // FWTK
        let task = ClientTask::from_bytes(&task_bytes)?;
        let data = train.dataset_for_client(id)?;
        let out = pollster::block_on(client_update(
            cpu.as_ref(),
            model.as_mut(),
            &task,
            &data,
            None,
        ))?;
        updates.push(out.update.to_bytes()); // FWUP
        println!(
            "client {key} ({id}): task {} bytes, update {} bytes, weight {}",
            task_bytes.len(),
            updates[key].len(),
            out.update.weight
        );
    }
    // Arrival order does not matter: the aggregate is exact.
    for bytes in updates.iter().rev() {
        round.accept(&ClientUpdate::from_bytes(bytes)?)?;
    }
    // A replayed update is refused, naming the reason; nothing changes.
    let replay = ClientUpdate::from_bytes(&updates[0])?;
    match round.accept(&replay) {
        Err(e) => println!("refused as expected ({}): {e}", e.code()),
        Ok(()) => return Err(fedwasm::Error::invalid("example", "a replay was accepted")),
    }
    let (next, metrics) = round.finish()?;
    println!("round {} metrics: {}", state.round(), metrics.to_json()?);
    let checkpoint = next.to_bytes()?; // FWCK
    println!(
        "checkpoint: {} bytes for {} floats",
        checkpoint.len(),
        next.global_model_weights
            .trainable
            .iter()
            .map(|t| t.data.len())
            .sum::<usize>()
    );
    Ok(())
}
