//! `Round` natively: the norm bound of `accept` (refused with reason
//! `norm`, nothing changed, the round's own reasons first).

use std::collections::BTreeMap;

use fedwasm_protocol::messages::{ClientTask, ClientUpdate};
use fedwasm_protocol::metrics::UnfinalizedMetrics;
use fedwasm_protocol::weights::{NamedTensor, WeightsSnapshot};

use super::*;

const SPEC: &str = r#"{"name":"weighted_fed_avg",
  "work":{"type":"train","client_optimizer":{"rule":{"type":"sgd"},"learning_rate":0.1},"proximal_strength":null},
  "weighting":"NUM_EXAMPLES","server_optimizer":{"rule":{"type":"sgd"},"learning_rate":1.0},
  "variables":[{"name":"dense/kernel","shape":[3,2],"group":"global_trainable"},
               {"name":"dense/bias","shape":[2],"group":"global_trainable"}],
  "metrics":["num_examples","num_batches","loss"],"seed":5}"#;

fn round() -> Round {
    let weights = WeightsSnapshot::new(vec![
        NamedTensor::new("dense/kernel", vec![3, 2], vec![0.0; 6]).unwrap(),
        NamedTensor::new("dense/bias", vec![2], vec![0.0; 2]).unwrap(),
    ]);
    let state = initial_state(SPEC, &weights.to_bytes()).unwrap();
    Round::new(SPEC, &state).unwrap()
}

/// The update of client `key`: `kernel` then `bias` values, 4 examples.
fn update(r: &Round, key: u64, kernel: [f32; 6], bias: [f32; 2]) -> ClientUpdate {
    let task = ClientTask::from_bytes(&r.task(key, "").unwrap()).unwrap();
    ClientUpdate {
        round_id: task.round_id,
        model_fingerprint: task.model_fingerprint,
        client_key: key,
        weight: 4.0,
        non_finite: false,
        update: vec![
            NamedTensor::new("dense/kernel", vec![3, 2], kernel.to_vec()).unwrap(),
            NamedTensor::new("dense/bias", vec![2], bias.to_vec()).unwrap(),
        ],
        metrics: UnfinalizedMetrics(BTreeMap::from([
            ("loss".to_string(), vec![2.0, 4.0]),
            ("num_batches".to_string(), vec![1.0]),
            ("num_examples".to_string(), vec![4.0]),
        ])),
    }
}

fn reason(e: &Error) -> &'static str {
    match e {
        Error::Refused { reason, .. } => reason,
        other => panic!("not a refusal: {other}"),
    }
}

#[test]
fn an_update_over_the_norm_bound_is_refused_and_changes_nothing() {
    let mut r = round();
    // Norm over both tensors: sqrt(3^2 + 4^2 + 12^2) = 13 (the bias holds the 12).
    let u = update(&r, 1, [3.0, 0.0, 0.0, 4.0, 0.0, 0.0], [0.0, 12.0]).to_bytes();
    let e = r.accept(&u, Some(12.5)).unwrap_err();
    assert_eq!(reason(&e), "norm");
    let msg = e.to_string();
    assert!(
        msg.contains("L2 norm 13") && msg.contains("bound 12.5"),
        "{msg}"
    );
    assert_eq!(r.accepted().unwrap(), 0);
    // The same bytes under a bound at or over the norm (13 is not over 13),
    // or with no bound, are accepted: the refusal left no trace.
    r.accept(&u, Some(13.0)).unwrap();
    assert_eq!(r.accepted().unwrap(), 1);
    let v = update(&r, 2, [0.0; 6], [0.0, 1e30]).to_bytes();
    r.accept(&v, None).unwrap();
    assert_eq!(r.accepted().unwrap(), 2);
    // A zero bound takes only all-zero updates.
    let zero = update(&r, 3, [0.0; 6], [0.0; 2]).to_bytes();
    r.accept(&zero, Some(0.0)).unwrap();
    let tiny = update(&r, 4, [0.0; 6], [f32::from_bits(1), 0.0]).to_bytes();
    assert_eq!(reason(&r.accept(&tiny, Some(0.0)).unwrap_err()), "norm");
}

#[test]
fn the_norm_is_summed_in_f64() {
    let mut r = round();
    // 3e30^2 overflows f32 but not f64: the norm is 5e30, under 5.1e30.
    let u = update(&r, 1, [3e30, 4e30, 0.0, 0.0, 0.0, 0.0], [0.0; 2]).to_bytes();
    let e = r.accept(&u, Some(4.9e30)).unwrap_err();
    assert_eq!(reason(&e), "norm");
    r.accept(&u, Some(5.1e30)).unwrap();
    // An unbounded norm (f32::MAX in every place) against an infinite bound.
    let big = update(&r, 2, [f32::MAX; 6], [f32::MAX; 2]).to_bytes();
    r.accept(&big, Some(f64::INFINITY)).unwrap();
    assert_eq!(r.accepted().unwrap(), 2);
}

#[test]
fn the_rounds_own_reasons_come_first_and_bad_bounds_are_invalid() {
    let mut r = round();
    let mut u = update(&r, 1, [100.0; 6], [100.0; 2]);
    u.round_id = 9;
    assert_eq!(
        reason(&r.accept(&u.to_bytes(), Some(1.0)).unwrap_err()),
        "round_id"
    );
    let ok = update(&r, 1, [1.0; 6], [1.0; 2]).to_bytes();
    r.accept(&ok, Some(10.0)).unwrap();
    assert_eq!(reason(&r.accept(&ok, Some(1.0)).unwrap_err()), "duplicate");
    let two = update(&r, 2, [1.0; 6], [1.0; 2]).to_bytes();
    for bad in [f64::NAN, -1.0, f64::NEG_INFINITY] {
        let e = r.accept(&two, Some(bad)).unwrap_err();
        assert_eq!(e.code(), "invalid_argument", "{e}");
        assert!(e.to_string().contains("maxNorm"), "{e}");
    }
    assert_eq!(r.accepted().unwrap(), 1);
    r.finish().unwrap();
    assert_eq!(reason(&r.accept(&two, Some(10.0)).unwrap_err()), "closed");
}

#[test]
fn check_gives_the_verdict_of_accept_and_changes_nothing() {
    let mut r = round();
    let u = update(&r, 1, [3.0, 0.0, 0.0, 4.0, 0.0, 0.0], [0.0, 12.0]).to_bytes();
    assert_eq!(reason(&r.check(&u, Some(12.5)).unwrap_err()), "norm");
    r.check(&u, Some(13.0)).unwrap();
    r.check(&u, None).unwrap();
    assert_eq!(r.accepted().unwrap(), 0);
    r.accept(&u, None).unwrap();
    assert_eq!(reason(&r.check(&u, None).unwrap_err()), "duplicate");
    // The sums hold the one accepted update, not the checked ones.
    let mut once = round();
    once.accept(&u, None).unwrap();
    assert_eq!(r.finish().unwrap(), once.finish().unwrap());
    assert_eq!(reason(&r.check(&u, None).unwrap_err()), "closed");
}
