//! Stateful clients (seed 003): matrix factorisation on synthetic ratings
//! where each user's vector stays on the user's device between the rounds
//! it takes part in. The caller keeps the client states (here a map; in a
//! browser, IndexedDB), passes each selected client's state to `next` and
//! stores the states that come back. Prints the training loss per round.
//!
//! Run: `cargo run --release -p fedwasm --example stateful_clients`

use std::collections::BTreeMap;
use std::rc::Rc;

use fedwasm::backend::CpuBackend;
use fedwasm::data::{synthetic_ratings, SyntheticRatings};
use fedwasm::federated::{self, build_stateful_fed_avg, ClientState, StatefulConfig};
use fedwasm::metrics::MetricKind;
use fedwasm::model::builtin;
use fedwasm::optim::OptimizerConfig;

fn main() -> fedwasm::Result<()> {
    let cfg = SyntheticRatings {
        num_users: 50,
        num_items: 30,
        rank: 2,
        ratings_per_user: 20,
        noise_std: 0.3,
        seed: 3,
    };
    let data = synthetic_ratings(&cfg)?;
    let ids = data.clients.client_ids();
    let process = build_stateful_fed_avg(
        federated::model_fn(builtin::matrix_factorization(cfg.num_items, 4)),
        Rc::new(CpuBackend::new()),
        StatefulConfig {
            client_optimizer: OptimizerConfig::sgd(0.1),
            local_optimizer: OptimizerConfig::sgd(0.5),
            ..StatefulConfig::default()
        },
    )?;
    let mut state = pollster::block_on(process.initialize())?;
    let mut store: BTreeMap<u64, ClientState> = BTreeMap::new();
    for round in 0..40u64 {
        let picked = federated::sample_clients(ids.len(), 10, 7, round)?;
        let names: Vec<String> = picked.iter().map(|&i| ids[i].clone()).collect();
        let clients = federated::client_datasets(&data.clients, &names, |ds| {
            ds.repeat(3).shuffle(64, round).batch(5, false)
        })?;
        let mut states = Vec::new();
        for &i in &picked {
            let s = match store.get(&(i as u64)) {
                Some(s) => s.clone(),
                None => pollster::block_on(process.initial_client_state(i as u64))?,
            };
            states.push(s);
        }
        let out = pollster::block_on(process.next(&state, &clients, &states))?;
        for s in out.client_states {
            store.insert(s.index, s);
        }
        state = out.state;
        if round % 5 == 4 {
            println!(
                "round {:2}: training loss {:.4}, clients with a saved state {}",
                round + 1,
                out.metrics.train(MetricKind::Loss).unwrap_or(f64::NAN),
                store.len()
            );
        }
    }
    Ok(())
}
