//! Weights file tests: bit-exact JSON and binary round trips, and corrupt or
//! inconsistent files giving errors (never panics). Runs natively and under
//! wasm32 (Node).

use fedwasm::model::{NamedTensor, WeightsSnapshot};
use fedwasm::Error;

/// Values that stress float printing and parsing.
fn awkward() -> Vec<f32> {
    vec![
        0.1,
        1e-38,
        -0.0,
        0.0,
        f32::MAX,
        -f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::EPSILON,
        1.0 / 3.0,
        16_777_217.0,
        -123.456,
        std::f32::consts::PI,
    ]
}

/// A deterministic spread of finite `f32` bit patterns (xorshift).
fn pseudo_random(n: usize) -> Vec<f32> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let f = f32::from_bits(x as u32);
        if f.is_finite() {
            out.push(f);
        }
    }
    out
}

fn sample() -> WeightsSnapshot {
    let awkward = awkward();
    WeightsSnapshot::new(vec![
        NamedTensor::new("dense/kernel", vec![awkward.len(), 1], awkward).unwrap(),
        NamedTensor::new("dense/bias", vec![], vec![-0.0]).unwrap(),
        NamedTensor::new("empty", vec![0, 3], vec![]).unwrap(),
        NamedTensor::new("émbedding ☃", vec![50, 40], pseudo_random(2000)).unwrap(),
    ])
}

fn bits(w: &WeightsSnapshot) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    w.variables
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                v.shape.clone(),
                v.data.iter().map(|x| x.to_bits()).collect(),
            )
        })
        .collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn json_round_trip_is_bit_exact() {
    let w = sample();
    let json = w.to_json().unwrap();
    assert!(json.starts_with(
        r#"{"format":"fedwasm-weights","version":1,"variables":[{"name":"dense/kernel""#
    ));
    let back = WeightsSnapshot::from_json(&json).unwrap();
    assert_eq!(bits(&back), bits(&w));
    assert_eq!(back.num_parameters(), 13 + 1 + 2000);
    // Many random bit patterns, one variable.
    let many = WeightsSnapshot::new(vec![NamedTensor::new(
        "x",
        vec![100_000],
        pseudo_random(100_000),
    )
    .unwrap()]);
    assert_eq!(
        bits(&WeightsSnapshot::from_json(&many.to_json().unwrap()).unwrap()),
        bits(&many)
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn binary_round_trip_is_bit_exact() {
    let w = sample();
    let bytes = w.to_bytes();
    assert_eq!(&bytes[..4], b"FWWT");
    assert_eq!(
        bits(&WeightsSnapshot::from_bytes(&bytes).unwrap()),
        bits(&w)
    );
    let empty = WeightsSnapshot::default();
    assert_eq!(
        WeightsSnapshot::from_bytes(&empty.to_bytes()).unwrap(),
        empty
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn binary_layout_is_as_documented() {
    let w = WeightsSnapshot::new(vec![
        NamedTensor::new("ab", vec![2], vec![1.0, -2.0]).unwrap()
    ]);
    let mut want = b"FWWT".to_vec();
    for v in [1u32, 1, 2] {
        want.extend_from_slice(&v.to_le_bytes()); // version, count, name length
    }
    want.extend_from_slice(b"ab");
    for v in [1u32, 2] {
        want.extend_from_slice(&v.to_le_bytes()); // rank, dims
    }
    for x in [1.0f32, -2.0] {
        want.extend_from_slice(&x.to_le_bytes());
    }
    let crc = fedwasm::checksum::crc32(&want);
    want.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(w.to_bytes_v1(), want);
    assert_eq!(WeightsSnapshot::from_bytes(&want).unwrap(), w);

    // Version 2 (what `to_bytes` writes): the name padded to 4 bytes, so the
    // floats start at a multiple of 4.
    let mut want = b"FWWT".to_vec();
    for v in [2u32, 1, 2] {
        want.extend_from_slice(&v.to_le_bytes()); // version, count, name length
    }
    want.extend_from_slice(b"ab\0\0");
    for v in [1u32, 2] {
        want.extend_from_slice(&v.to_le_bytes()); // rank, dims
    }
    assert_eq!(want.len() % 4, 0);
    for x in [1.0f32, -2.0] {
        want.extend_from_slice(&x.to_le_bytes());
    }
    let crc = fedwasm::checksum::crc32(&want);
    want.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(w.to_bytes(), want);
    assert_eq!(WeightsSnapshot::from_bytes(&want).unwrap(), w);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn truncated_binary_is_an_error_at_every_length() {
    let w = WeightsSnapshot::new(vec![
        NamedTensor::new("a", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        NamedTensor::new("bias", vec![2], vec![0.5, -0.5]).unwrap(),
    ]);
    let bytes = w.to_bytes();
    for len in 0..bytes.len() {
        let err = WeightsSnapshot::from_bytes(&bytes[..len]).unwrap_err();
        assert!(matches!(err, Error::Binary { .. }), "length {len}: {err}");
        let msg = err.to_string();
        assert!(msg.contains("truncated"), "length {len}: {msg}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn flipped_bytes_are_detected() {
    let bytes = sample().to_bytes();
    // Every byte of the header and first variable, and a stride through the rest.
    let positions = (0..200)
        .chain((200..bytes.len()).step_by(37))
        .chain([bytes.len() - 1]);
    for i in positions {
        for mask in [0x01u8, 0xFF] {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            let msg = WeightsSnapshot::from_bytes(&bad).unwrap_err().to_string();
            let want = match i {
                0..=3 => "magic",
                4..=7 => "version",
                _ => "checksum",
            };
            assert!(msg.contains(want), "byte {i} ^ {mask:#x}: {msg}");
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_magic_and_garbage() {
    let mut bytes = sample().to_bytes();
    bytes[..4].copy_from_slice(b"PK\x03\x04");
    assert!(WeightsSnapshot::from_bytes(&bytes)
        .unwrap_err()
        .to_string()
        .contains("magic"));
    assert!(WeightsSnapshot::from_bytes(b"{\"format\":1}").is_err());
    for garbage in [
        &[0u8; 64][..],
        &[0xFF; 64][..],
        b"FWWT\x01\0\0\0\xff\xff\xff\xff\0\0\0\0",
    ] {
        assert!(WeightsSnapshot::from_bytes(garbage).is_err());
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn binary_rejects_non_finite_and_inconsistent_snapshots() {
    let nan = WeightsSnapshot::new(vec![NamedTensor {
        name: "w".into(),
        shape: vec![1],
        data: vec![f32::NAN],
    }]);
    let msg = WeightsSnapshot::from_bytes(&nan.to_bytes())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("\"w\"") && msg.contains("non-finite"), "{msg}");
    let short = WeightsSnapshot::new(vec![NamedTensor {
        name: "w".into(),
        shape: vec![3],
        data: vec![1.0],
    }]);
    assert!(WeightsSnapshot::from_bytes(&short.to_bytes()).is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn json_errors_name_the_variable() {
    let unknown = r#"{"format":"fedwasm-weights","version":1,"variables":[
        {"name":"conv/kernel","shape":[1],"data":[1],"trainable":true}]}"#;
    let msg = WeightsSnapshot::from_json(unknown).unwrap_err().to_string();
    assert!(
        msg.contains("conv/kernel") && msg.contains("trainable"),
        "{msg}"
    );

    let wrong_len = r#"{"format":"fedwasm-weights","version":1,"variables":[
        {"name":"a","shape":[1],"data":[1]},
        {"name":"dense/bias","shape":[2,2],"data":[1,2,3]}]}"#;
    let msg = WeightsSnapshot::from_json(wrong_len)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("dense/bias") && msg.contains("3 values"),
        "{msg}"
    );

    // 1e39 does not fit an f32: it would read as infinity.
    let overflow = r#"{"format":"fedwasm-weights","version":1,"variables":[
        {"name":"big","shape":[1],"data":[1e39]}]}"#;
    let msg = WeightsSnapshot::from_json(overflow)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("big") && msg.contains("non-finite"), "{msg}");

    let wrong_format = r#"{"format":"keras","version":1,"variables":[]}"#;
    assert!(WeightsSnapshot::from_json(wrong_format)
        .unwrap_err()
        .to_string()
        .contains("keras"));
    let wrong_version = r#"{"format":"fedwasm-weights","version":7,"variables":[]}"#;
    assert!(WeightsSnapshot::from_json(wrong_version)
        .unwrap_err()
        .to_string()
        .contains("version 7"));
    let dup = r#"{"format":"fedwasm-weights","version":1,"variables":[
        {"name":"a","shape":[],"data":[1]},{"name":"a","shape":[],"data":[2]}]}"#;
    assert!(WeightsSnapshot::from_json(dup)
        .unwrap_err()
        .to_string()
        .contains("duplicate"));
    assert!(matches!(
        WeightsSnapshot::from_json("not json"),
        Err(Error::Json { .. })
    ));

    // Writing refuses what JSON cannot carry.
    let inf = WeightsSnapshot::new(vec![NamedTensor {
        name: "inf".into(),
        shape: vec![1],
        data: vec![f32::INFINITY],
    }]);
    assert!(inf.to_json().unwrap_err().to_string().contains("inf"));
}
