//! Hand-made hostile protocol messages: huge counts and shapes, sizes over
//! the limits, truncation, a wrong magic or checksum. Each is refused with
//! code `limit` or `bad_data` and a message naming the field, before
//! anything is sized from it. (`fedwasm bench fuzz` mutates them at scale.)
//!
//! Every test runs under [`LIMITS`] (process-wide; this file is its own
//! test binary).

use std::collections::BTreeMap;

use fedwasm_protocol::checksum::crc32;
use fedwasm_protocol::encoding::f32_arrays;
use fedwasm_protocol::limits::Limits;
use fedwasm_protocol::messages::{ClientState, ClientUpdate};
use fedwasm_protocol::metrics::UnfinalizedMetrics;
use fedwasm_protocol::state::LearningProcessState;
use fedwasm_protocol::weights::{NamedTensor, WeightsSnapshot};
use fedwasm_protocol::Error;

const LIMITS: Limits = Limits {
    max_tensor_elements: 1 << 17,
    max_model_parameters: 1 << 16,
    max_examples_per_client: 1 << 10,
    max_message_bytes: 1 << 20,
};

#[track_caller]
fn expect(e: Error, code: &str, needles: &[&str]) {
    let m = e.to_string();
    assert_eq!(e.code(), code, "{m}");
    for n in needles {
        assert!(m.contains(n), "{n:?} not in {m:?}");
    }
}

fn t(name: &str, shape: &[usize], len: usize) -> NamedTensor {
    NamedTensor {
        name: name.into(),
        shape: shape.to_vec(),
        data: vec![0.5; len],
    }
}

fn update(tensors: Vec<NamedTensor>) -> Vec<u8> {
    ClientUpdate {
        round_id: 1,
        model_fingerprint: 2,
        client_key: 3,
        weight: 4.0,
        non_finite: false,
        update: tensors,
        metrics: UnfinalizedMetrics(BTreeMap::from([("num_examples".into(), vec![4.0])])),
    }
    .to_bytes()
}

fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() - 4;
    let crc = crc32(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn put_u32(b: &[u8], at: usize, v: u32) -> Vec<u8> {
    let mut b = b.to_vec();
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    reseal(b)
}

#[test]
fn updates_refuse_huge_counts_shapes_and_totals() {
    LIMITS.set();
    let ok = update(vec![t("d/kernel", &[3, 2], 6)]);
    ClientUpdate::from_bytes(&ok).unwrap();
    // The metrics count follows the 48-byte header (magic, version, three
    // u64, the weight, flags, reserved).
    expect(
        ClientUpdate::from_bytes(&put_u32(&ok, 48, u32::MAX)).unwrap_err(),
        "bad_data",
        &["the number of metrics is 4294967295, but only"],
    );
    expect(
        ClientUpdate::from_bytes(&update(vec![t("d/kernel", &[65536, 65536], 0)])).unwrap_err(),
        "limit",
        &[
            "tensor 0 (\"d/kernel\") of the update",
            "max_tensor_elements",
        ],
    );
    // [0, 2^32]: empty, but its dimensions are over the limit all the same.
    expect(
        ClientUpdate::from_bytes(&update(vec![t("e", &[0, 65536, 65536], 0)])).unwrap_err(),
        "limit",
        &["zero dimensions counted as 1"],
    );
    let two = update(vec![t("a", &[40_000], 40_000), t("b", &[40_000], 40_000)]);
    expect(
        ClientUpdate::from_bytes(&two).unwrap_err(),
        "limit",
        &[
            "the elements of the update together",
            "max_model_parameters",
        ],
    );
    let mut flipped = ok.clone();
    flipped[60] ^= 1;
    expect(
        ClientUpdate::from_bytes(&flipped).unwrap_err(),
        "bad_data",
        &["checksum mismatch"],
    );
    expect(
        ClientUpdate::from_bytes(&reseal(ok[..ok.len() - 12].to_vec())).unwrap_err(),
        "bad_data",
        &["truncated"],
    );
    expect(
        ClientUpdate::from_bytes(b"FWUX\x02\0\0\0\0\0\0\0").unwrap_err(),
        "bad_data",
        &["magic"],
    );
    let mut huge = ok.clone();
    huge.resize(LIMITS.max_message_bytes as usize + 1, 0);
    expect(
        ClientUpdate::from_bytes(&huge).unwrap_err(),
        "limit",
        &["max_message_bytes", "client update"],
    );
}

#[test]
fn client_states_weights_and_offsets_refuse_hostile_tensors() {
    LIMITS.set();
    let state = |shape: &[usize]| {
        ClientState {
            index: 1,
            local_weights: vec![t("user/embedding", shape, 0)],
        }
        .to_bytes()
    };
    expect(
        ClientState::from_bytes(&state(&[65536, 65536])).unwrap_err(),
        "limit",
        &["user/embedding", "max_tensor_elements"],
    );
    // A tensor count of 2^32 - 1 right after the index.
    let ok = ClientState {
        index: 1,
        local_weights: vec![t("w", &[2], 2)],
    }
    .to_bytes();
    expect(
        ClientState::from_bytes(&put_u32(&ok, 16, u32::MAX)).unwrap_err(),
        "bad_data",
        &["the number of tensors in the local weights is 4294967295"],
    );
    expect(
        f32_arrays(&state(&[65536, 65536])).unwrap_err(),
        "limit",
        &["tensor 0", "max_tensor_elements"],
    );
    let v2 = WeightsSnapshot::new(vec![t("w", &[65536, 65536], 0)]).to_bytes();
    expect(
        WeightsSnapshot::from_bytes(&v2).unwrap_err(),
        "limit",
        &["\"w\"", "max_tensor_elements"],
    );
}

#[test]
fn checkpoints_refuse_inconsistent_slots_and_huge_shapes() {
    LIMITS.set();
    let json = |shape: &str, data: &str| {
        format!(
            r#"{{"global_model_weights":{{"trainable":[{{"name":"w","shape":{shape},"data":{data}}}],"non_trainable":[]}},
                "distributor":{{}},"client_work":{{}},"aggregator":{{}},"finalizer":{{"round":2}}}}"#
        )
    };
    let state = LearningProcessState::from_json(&json("[2]", "[1,2]")).unwrap();
    let bytes = state.to_bytes().unwrap();
    assert_eq!(LearningProcessState::from_bytes(&bytes).unwrap(), state);
    expect(
        LearningProcessState::from_json(&json("[65536,65536]", "[]")).unwrap_err(),
        "limit",
        &[
            "global_model_weights.trainable variable \"w\"",
            "max_tensor_elements",
        ],
    );
    // The JSON header's length field, first in the body.
    expect(
        LearningProcessState::from_bytes(&put_u32(&bytes, 8, u32::MAX)).unwrap_err(),
        "bad_data",
        &["the length of header is 4294967295"],
    );
    expect(
        LearningProcessState::from_bytes(&reseal(bytes[..bytes.len() - 8].to_vec())).unwrap_err(),
        "bad_data",
        &["truncated"],
    );
}
