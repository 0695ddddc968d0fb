//! Hand-made hostile inputs for every decoder of untrusted bytes, and sizes
//! that overflow in the backends: each is refused with a typed error (code
//! `limit` or `bad_data`) whose message names the field and, for a limit,
//! the `Limits` field, before anything is allocated. The fuzz harness
//! (`fedwasm bench fuzz`, `crate/fedwasm-cli/tests/fuzz.rs`) covers the
//! mutations; these pin down one case of each kind.
//!
//! Every test here runs under [`LIMITS`] (set by [`limits`]; the limits are
//! process-wide, and this file is its own test binary, so no other test
//! sees them), low enough that a file over `max_message_bytes` is cheap to
//! make.

mod common;

use fedwasm::backend::{Backend, CpuBackend, Padding};
use fedwasm::checksum::crc32;
use fedwasm::data::{
    apply_plan, decode_femnist_pack, encode_femnist_pack, femnist_digits, parse_csv,
    parse_leaf_json, parse_movielens, ColumnRef, CsvOptions, Dataset, DatasetPlan, ElementSpec,
    Examples, LabelSpec, LeafOptions,
};
use fedwasm::federated::LearningProcessState;
use fedwasm::limits::Limits;
use fedwasm::model::{GraphModel, ModelSpec, NamedTensor, WeightsSnapshot};
use fedwasm::optim::{OptimizerConfig, OptimizerState};
use fedwasm::{Error, Tensor};

const LIMITS: Limits = Limits {
    max_tensor_elements: 1 << 17,
    max_model_parameters: 1 << 16,
    max_examples_per_client: 1 << 10,
    max_message_bytes: 1 << 20,
};

fn limits() {
    LIMITS.set();
}

/// `usize::MAX + 1 = HALF * HALF` (`[1 << 32, 1 << 32]` natively).
const HALF: usize = 1 << (usize::BITS / 2);

/// Asserts the error's code and that its message contains every needle.
#[track_caller]
fn expect(e: Error, code: &str, needles: &[&str]) {
    let m = e.to_string();
    assert_eq!(e.code(), code, "{m}");
    for n in needles {
        assert!(m.contains(n), "{n:?} not in {m:?}");
    }
}

/// `n` bytes of JSON-ish filler: a document just over the message limit.
fn oversized() -> String {
    " ".repeat(LIMITS.max_message_bytes as usize + 1)
}

fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 4;
    let crc = crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

// ---- backends ----

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn overflowing_tensor_shapes_never_reach_a_kernel() {
    limits();
    // The product wraps to 0, the length of the empty buffer: refused.
    expect(
        Tensor::new(&[HALF, HALF], vec![]).unwrap_err(),
        "limit",
        &["Tensor::new", "max_tensor_elements"],
    );
    let cpu = CpuBackend::new();
    expect(
        cpu.upload(&[HALF, HALF], &[]).unwrap_err(),
        "limit",
        &["max_tensor_elements"],
    );
    expect(
        cpu.zeros(&[HALF, HALF, 0]).unwrap_err(),
        "limit",
        &["zero dimensions counted as 1"],
    );
    expect(
        cpu.dropout_mask(&[HALF, HALF], 0.5, 1, 0).unwrap_err(),
        "limit",
        &["dropout_mask"],
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn matmul_and_conv_results_over_the_limit_are_refused_before_allocating() {
    limits();
    let cpu = CpuBackend::new();
    let col = cpu.zeros(&[1 << 9, 1]).unwrap();
    let row = cpu.zeros(&[1, 1 << 9]).unwrap();
    // [512, 1] x [1, 512] is 2^18 elements, over 2^17.
    expect(
        cpu.matmul(&col, &row, false, false).unwrap_err(),
        "limit",
        &["matmul", "product [512, 512]", "max_tensor_elements"],
    );
    // Transposed, the same product is [1, 1]: fine.
    assert_eq!(
        cpu.matmul(&col, &col, true, false).unwrap().shape(),
        &[1, 1]
    );
    // "same" conv of 64x64 by 64 filters: 2^18 output elements.
    let x = cpu.zeros(&[1, 64, 64, 1]).unwrap();
    let w = cpu.zeros(&[5, 5, 1, 64]).unwrap();
    let b = cpu.zeros(&[64]).unwrap();
    expect(
        cpu.conv2d(&x, &w, &b, Padding::Same).unwrap_err(),
        "limit",
        &["conv2d", "output [1, 64, 64, 64]"],
    );
    // A 32x32x8 image by a 5x5x8 kernel: 1024 pixels x 200 taps of im2col.
    let x = cpu.zeros(&[1, 32, 32, 8]).unwrap();
    let w = cpu.zeros(&[5, 5, 8, 1]).unwrap();
    let b = cpu.zeros(&[1]).unwrap();
    expect(
        cpu.conv2d_backward(&x, &w, &x, Padding::Same, true)
            .err()
            .unwrap(),
        "limit",
        &["conv2d_backward", "im2col"],
    );
    expect(
        cpu.conv2d(&x, &w, &b, Padding::Same).unwrap_err(),
        "limit",
        &["im2col"],
    );
    let table = cpu.zeros(&[4, 1 << 9]).unwrap();
    let ids = cpu.upload(&[1 << 9], &vec![0.0; 1 << 9]).unwrap();
    expect(
        cpu.gather_rows(&table, &ids).unwrap_err(),
        "limit",
        &["gather_rows"],
    );
    let v = cpu.zeros(&[1, 1 << 9]).unwrap();
    expect(
        cpu.broadcast_rows(&v, HALF).unwrap_err(),
        "limit",
        &["broadcast_rows"],
    );
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn webgpu_sizes_are_checked_on_the_host_before_dispatch() {
    limits();
    let b = pollster::block_on(common::gpu::backend());
    expect(
        b.upload(&[HALF, HALF], &[]).unwrap_err(),
        "limit",
        &["webgpu upload"],
    );
    expect(
        b.zeros(&[1 << 20, 1 << 20]).unwrap_err(),
        "limit",
        &["webgpu zeros"],
    );
    let col = b.zeros(&[1 << 9, 1]).unwrap();
    let row = b.zeros(&[1, 1 << 9]).unwrap();
    expect(
        b.matmul(&col, &row, false, false).unwrap_err(),
        "limit",
        &["webgpu matmul", "max_tensor_elements"],
    );
}

// ---- weights files ----

fn weights_header(count: u32) -> Vec<u8> {
    let mut b = b"FWWT".to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&count.to_le_bytes());
    b
}

/// A binary weights file of one variable `name` with `shape` and `data`.
fn weights_file(vars: &[(&str, &[u32], usize)]) -> Vec<u8> {
    let mut b = weights_header(vars.len() as u32);
    for (name, shape, floats) in vars {
        b.extend_from_slice(&(name.len() as u32).to_le_bytes());
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(&(shape.len() as u32).to_le_bytes());
        for d in *shape {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.extend(std::iter::repeat_n(0u8, 4 * floats));
    }
    b.extend_from_slice(&[0; 4]);
    reseal(b)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn binary_weights_refuse_huge_fields_bad_magic_and_checksums() {
    limits();
    let ok = weights_file(&[("w", &[2, 3], 6)]);
    assert_eq!(
        WeightsSnapshot::from_bytes(&ok).unwrap().num_parameters(),
        6
    );
    // A count of 2^32 - 1 variables with a valid checksum.
    let mut b = weights_header(u32::MAX);
    b.extend_from_slice(&[0; 4]);
    expect(
        WeightsSnapshot::from_bytes(&reseal(b)).unwrap_err(),
        "bad_data",
        &["variable count = 4294967295"],
    );
    // [65536, 65536]: 2^32 elements.
    expect(
        WeightsSnapshot::from_bytes(&weights_file(&[("w", &[65536, 65536], 0)])).unwrap_err(),
        "limit",
        &["variable 0 \"w\"", "max_tensor_elements"],
    );
    // Two variables of 40,000 elements: over 2^16 parameters together.
    let two = weights_file(&[("a", &[40_000], 40_000), ("b", &[40_000], 40_000)]);
    expect(
        WeightsSnapshot::from_bytes(&two).unwrap_err(),
        "limit",
        &["max_model_parameters", "parameters of the snapshot"],
    );
    let mut flipped = ok.clone();
    flipped[20] ^= 4;
    expect(
        WeightsSnapshot::from_bytes(&flipped).unwrap_err(),
        "bad_data",
        &["checksum mismatch"],
    );
    expect(
        WeightsSnapshot::from_bytes(b"FWWX\x01\0\0\0").unwrap_err(),
        "bad_data",
        &["bad magic"],
    );
    expect(
        WeightsSnapshot::from_bytes(&reseal(ok[..ok.len() - 8].to_vec())).unwrap_err(),
        "bad_data",
        &["variable 0 \"w\" of shape [2, 3] needs more data than the 16 bytes that remain"],
    );
    expect(
        WeightsSnapshot::from_bytes(oversized().as_bytes()).unwrap_err(),
        "limit",
        &["max_message_bytes", "binary weights file"],
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn json_weights_refuse_huge_shapes_and_oversized_documents() {
    limits();
    let doc = |shape: &str, data: &str| {
        format!(
            r#"{{"format":"fedwasm-weights","version":1,"variables":[{{"name":"dense/kernel","shape":{shape},"data":{data}}}]}}"#
        )
    };
    assert!(WeightsSnapshot::from_json(&doc("[2]", "[1,2]")).is_ok());
    expect(
        WeightsSnapshot::from_json(&doc("[65536,65536]", "[]")).unwrap_err(),
        "limit",
        &["variable 0 \"dense/kernel\"", "max_tensor_elements"],
    );
    expect(
        WeightsSnapshot::from_json(&doc("[3]", "[1,2]")).unwrap_err(),
        "bad_data",
        &["\"dense/kernel\"", "shape [3] needs 3"],
    );
    expect(
        WeightsSnapshot::from_json(&doc("[2]", "[1,2")).unwrap_err(),
        "bad_data",
        &["fedwasm weights"],
    );
    expect(
        WeightsSnapshot::from_json(&oversized()).unwrap_err(),
        "limit",
        &["max_message_bytes", "JSON weights document"],
    );
}

// ---- the FEMNIST pack ----

/// A one-writer pack from the embedded data, and the offset of its
/// per-writer `n_train` field.
fn small_pack() -> (Vec<u8>, usize) {
    let (train, test) = femnist_digits().unwrap();
    let one = |c: &fedwasm::data::ClientData| c.retain_clients(|id| id == c.client_ids()[0]);
    let (tr, te) = (one(&train), one(&test));
    let bytes = encode_femnist_pack(&tr, &te).unwrap();
    // magic, version, pixels, classes, clients, id length, id.
    let id_len = bytes[24] as usize;
    (bytes, 25 + id_len)
}

fn put_u32(mut b: Vec<u8>, at: usize, v: u32) -> Vec<u8> {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    reseal(b)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn femnist_pack_refuses_header_sizes_before_reserving() {
    limits();
    let (pack, n_train) = small_pack();
    decode_femnist_pack(&pack).unwrap();
    expect(
        decode_femnist_pack(&put_u32(pack.clone(), n_train, u32::MAX)).unwrap_err(),
        "limit",
        &[
            "writer",
            "examples (n_train + n_test)",
            "max_examples_per_client",
        ],
    );
    // 500 (and the test) examples of 784 pixels: over 2^17 elements.
    expect(
        decode_femnist_pack(&put_u32(pack.clone(), n_train, 500)).unwrap_err(),
        "limit",
        &["writer", "pixels of", "max_tensor_elements"],
    );
    expect(
        decode_femnist_pack(&put_u32(pack.clone(), 12, u32::MAX)).unwrap_err(),
        "limit",
        &["header field pixels", "max_tensor_elements"],
    );
    expect(
        decode_femnist_pack(&put_u32(pack.clone(), 16, 0)).unwrap_err(),
        "bad_data",
        &["header field classes"],
    );
    let mut damaged = pack.clone();
    damaged[40] ^= 1;
    expect(
        decode_femnist_pack(&damaged).unwrap_err(),
        "bad_data",
        &["checksum mismatch"],
    );
    expect(
        decode_femnist_pack(&reseal(pack[..60].to_vec())).unwrap_err(),
        "bad_data",
        &["truncated"],
    );
    expect(
        decode_femnist_pack(b"FWFEMDIX\0\0\0\0\0\0\0\0").unwrap_err(),
        "bad_data",
        &["bad magic"],
    );
}

// ---- model descriptions ----

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn model_descriptions_are_capped_before_any_variable_exists() {
    limits();
    let cpu = CpuBackend::new();
    let mlp = |input: &str, units: &str| {
        format!(
            r#"{{"name":"m","input_shape":{input},"label":{{"class":{{"num_classes":2}}}},
                "layers":[{{"name":"hidden","layer":{{"dense":{{"units":{units}}}}}}},
                          {{"name":"out","layer":{{"dense":{{"units":2,"activation":"softmax"}}}}}}],
                "loss":{{"sparse_categorical_crossentropy":{{}}}}}}"#
        )
    };
    assert!(GraphModel::from_json(&mlp("[8]", "4"), &cpu, 1).is_ok());
    // 784 x 100 = 78,400 parameters, over 2^16.
    expect(
        GraphModel::from_json(&mlp("[784]", "100"), &cpu, 1)
            .err()
            .unwrap(),
        "limit",
        &["node \"hidden\"", "max_model_parameters"],
    );
    // units = 2^31: the kernel [8, 2^31] overflows on 32-bit targets; the
    // node's output is over the tensor limit everywhere.
    expect(
        GraphModel::from_json(&mlp("[8]", "2147483648"), &cpu, 1)
            .err()
            .unwrap(),
        "limit",
        &["node \"hidden\"", "max_tensor_elements"],
    );
    expect(
        GraphModel::from_json(&mlp("[65536,65536]", "4"), &cpu, 1)
            .err()
            .unwrap(),
        "limit",
        &["input_shape", "max_tensor_elements"],
    );
    expect(
        ModelSpec::from_json(&mlp("[8]", "4").replace("\"units\":4", "\"units\":4,\"size\":1"))
            .unwrap_err(),
        "bad_data",
        &["model description", "unknown field `size`"],
    );
    expect(
        ModelSpec::from_json(&oversized()).unwrap_err(),
        "limit",
        &["max_message_bytes", "model description"],
    );
}

// ---- checkpoints and optimizer state ----

const SLOTS: &str = r#"[[{"shape":[2],"data":[0.5,1]},{"shape":[2],"data":[0.25,1]}]]"#;

fn optimizer_state(shape: &str, slots: &str) -> String {
    format!(r#"{{"optimizer":"adam","step":1,"round":1,"shapes":[{shape}],"slots":{slots}}}"#)
}

fn checkpoint(shape: &str, data: &str, client_work: &str) -> String {
    format!(
        r#"{{"global_model_weights":{{"trainable":[{{"name":"dense/kernel","shape":{shape},"data":{data}}}],"non_trainable":[]}},
            "distributor":{{}},"client_work":{client_work},"aggregator":{{}},
            "finalizer":{{"round":1,"server_optimizer":{}}}}}"#,
        optimizer_state("[2]", SLOTS)
    )
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn checkpoints_check_sizes_and_metric_structure() {
    limits();
    assert_eq!(
        LearningProcessState::from_json(&checkpoint("[2]", "[1,2]", "{}"))
            .unwrap()
            .round(),
        1
    );
    expect(
        LearningProcessState::from_json(&checkpoint("[65536,65536]", "[]", "{}")).unwrap_err(),
        "limit",
        &[
            "global_model_weights.trainable variable \"dense/kernel\"",
            "max_tensor_elements",
        ],
    );
    expect(
        LearningProcessState::from_json(&checkpoint("[3]", "[1,2]", "{}")).unwrap_err(),
        "bad_data",
        &["dense/kernel", "field data", "2 values for shape [3]"],
    );
    let eval = |loss: &str| {
        format!(
            r#"{{"eval":{{"current_round_metrics":{{"loss":{loss}}},"total_rounds_metrics":{{}}}}}}"#
        )
    };
    assert!(LearningProcessState::from_json(&checkpoint("[2]", "[1,2]", &eval("[1,2]"))).is_ok());
    expect(
        LearningProcessState::from_json(&checkpoint("[2]", "[1,2]", &eval("[1]"))).unwrap_err(),
        "bad_data",
        &["current_round_metrics", "loss has 1 values, expected 2"],
    );
    expect(
        LearningProcessState::from_json(&oversized()).unwrap_err(),
        "limit",
        &["max_message_bytes", "checkpoint"],
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn optimizer_state_and_config_refuse_hostile_sizes() {
    limits();
    assert!(OptimizerState::from_json(&optimizer_state("[2]", SLOTS)).is_ok());
    let huge = r#"[[{"shape":[65536,65536],"data":[]},{"shape":[2],"data":[0,0]}]]"#;
    expect(
        OptimizerState::from_json(&optimizer_state("[2]", huge)).unwrap_err(),
        "limit",
        &["slot 0 of variable 0", "max_tensor_elements"],
    );
    expect(
        OptimizerState::from_json(&optimizer_state("[65536,65536]", SLOTS)).unwrap_err(),
        "limit",
        &["variable 0", "max_tensor_elements"],
    );
    let short = r#"[[{"shape":[2],"data":[0]},{"shape":[2],"data":[0,0]}]]"#;
    expect(
        OptimizerState::from_json(&optimizer_state("[2]", short)).unwrap_err(),
        "bad_data",
        &["slot 0 of variable 0", "field data"],
    );
    expect(
        OptimizerState::from_json(&oversized()).unwrap_err(),
        "limit",
        &["max_message_bytes", "optimizer state"],
    );
    expect(
        OptimizerConfig::from_json(r#"{"rule":{"type":"sgd"},"learning_rate":0.1,"lr":1}"#)
            .unwrap_err(),
        "bad_data",
        &["optimizer config", "unknown field `lr`"],
    );
    expect(
        OptimizerConfig::from_json(&oversized()).unwrap_err(),
        "limit",
        &["max_message_bytes", "optimizer config"],
    );
}

// ---- datasets ----

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn leaf_json_refuses_too_many_examples_before_reserving_pixels() {
    limits();
    // 2000 labels (4 KB of text) would reserve 2000 x 784 floats.
    let labels = vec!["1"; 2000].join(",");
    let doc = format!(
        r#"{{"users":["w"],"num_samples":[2000],"user_data":{{"w":{{"x":[],"y":[{labels}]}}}}}}"#
    );
    expect(
        parse_leaf_json("a.json", doc.as_bytes(), &LeafOptions::default()).unwrap_err(),
        "limit",
        &["file a.json, user w", "max_examples_per_client"],
    );
    let truncated = &doc[..doc.len() / 2];
    expect(
        parse_leaf_json("a.json", truncated.as_bytes(), &LeafOptions::default()).unwrap_err(),
        "bad_data",
        &["a.json", "field y"],
    );
    expect(
        parse_leaf_json("a.json", oversized().as_bytes(), &LeafOptions::default()).unwrap_err(),
        "limit",
        &["file a.json", "max_message_bytes"],
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn movielens_and_csv_refuse_oversized_clients_and_files() {
    limits();
    let ratings: String = (0..1100).map(|i| format!("7\t{i}\t3\t0\n")).collect();
    expect(
        parse_movielens("u.data", &ratings, &Default::default()).unwrap_err(),
        "limit",
        &["u.data", "line 1025", "user 7", "max_examples_per_client"],
    );
    expect(
        parse_movielens("u.data", "1\t2\t3\n", &Default::default()).unwrap_err(),
        "bad_data",
        &["u.data", "line 1", "field timestamp"],
    );
    expect(
        parse_movielens("u.data", &oversized(), &Default::default()).unwrap_err(),
        "limit",
        &["max_message_bytes"],
    );
    let opts = CsvOptions::new(ColumnRef::Index(0), LabelSpec::Class { num_classes: 2 });
    let rows: String = std::iter::once("label,f\n".to_string())
        .chain((0..1100).map(|i| format!("1,{i}\n")))
        .collect();
    expect(
        parse_csv("d.csv", &rows, &opts).unwrap_err(),
        "limit",
        &[
            "file d.csv, line 1026",
            "rows of one client",
            "max_examples_per_client",
        ],
    );
    // A header of 2^17 + 1 feature columns: each example would be over the
    // tensor limit.
    let wide = format!("label{}\n", ",f".repeat((1 << 17) + 1));
    expect(
        parse_csv("d.csv", &wide, &opts).unwrap_err(),
        "limit",
        &["ElementSpec", "max_tensor_elements"],
    );
    expect(
        parse_csv("d.csv", "label,f\n1,\"2\n", &opts).unwrap_err(),
        "bad_data",
        &["d.csv", "line 2"],
    );
    expect(
        parse_csv("d.csv", &oversized(), &opts).unwrap_err(),
        "limit",
        &["file d.csv", "max_message_bytes"],
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn named_tensors_from_input_still_fit_their_shapes() {
    limits();
    // The serde form of a snapshot is unchecked: validation names the variable.
    let w = WeightsSnapshot::new(vec![NamedTensor {
        name: "v".into(),
        shape: vec![HALF, HALF],
        data: vec![],
    }]);
    assert!(w.validate().unwrap_err().to_string().contains("\"v\""));
    expect(
        w.check_limits("test").unwrap_err(),
        "limit",
        &["variable 0 \"v\""],
    );
    let v = &w.variables[0];
    assert_eq!(
        Tensor::new(&v.shape, v.data.clone()).unwrap_err().code(),
        "limit"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_task_plan_cannot_make_a_batch_over_the_limit() {
    limits();
    let spec = ElementSpec::new(vec![8], LabelSpec::Real);
    let ds = Dataset::from_examples(Examples::new(spec, vec![0.5; 80], vec![1.0; 10]).unwrap());
    // A server's plan: the 10 examples a million times, in one batch of 2^30.
    let plan = DatasetPlan::new().repeat(1_000_000).batch(1 << 30);
    expect(
        apply_plan(&plan, &ds).unwrap().batches().err().unwrap(),
        "limit",
        &["a batch of 1073741824 examples", "max_tensor_elements"],
    );
    // A batch size over the examples there are is fine: the batch is smaller.
    let plan = DatasetPlan::new().batch(1 << 30);
    let batches: Vec<_> = apply_plan(&plan, &ds).unwrap().batches().unwrap().collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].as_ref().unwrap().x.shape(), &[10, 8]);
}
