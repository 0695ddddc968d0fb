//! `fedwasm bench fuzz`, short: every decoder of untrusted bytes, 20,000
//! mutated cases each, no panics and no allocation over the limits. CI runs
//! this file twice: in the test profile (overflow checks on: an overflow is
//! a panic) and in release (overflow checks off: a wrapped size must still
//! be caught by the checks). `FEDWASM_FUZZ_CASES` overrides the count.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

use serde_json::Value;

fn fuzz(args: &[&str]) -> (bool, Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fedwasm"))
        .args(["bench", "fuzz", "--json"])
        .args(args)
        .output()
        .expect("run fedwasm");
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (
        out.status.success(),
        lines,
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The decoders the engine and the protocol register (a decoder that
/// drops out of the registry fails here).
const DECODERS: [&str; 17] = [
    "weights_binary",
    "weights_json",
    "femnist_pack",
    "model_spec_json",
    "model_build_json",
    "checkpoint_json",
    "optimizer_state_json",
    "optimizer_config_json",
    "leaf_json",
    "movielens",
    "csv",
    "examples_binary",
    "task_fwtk",
    "update_fwup_accept",
    "client_state_fwcs",
    "checkpoint_fwck",
    "f32_arrays",
];

fn u(r: &Value, field: &str) -> u64 {
    r[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {r}"))
}

#[test]
fn every_decoder_survives_mutated_inputs() {
    let cases: u64 = std::env::var("FEDWASM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let (ok, reports, stderr) = fuzz(&["--cases", &cases.to_string(), "--seed", "2024"]);
    let names: Vec<&str> = reports
        .iter()
        .map(|r| r["decoder"].as_str().unwrap())
        .collect();
    for d in DECODERS {
        assert!(names.contains(&d), "{d} missing from {names:?}");
    }
    for r in &reports {
        let name = &r["decoder"];
        assert_eq!(u(r, "cases"), cases, "{name}");
        assert_eq!(u(r, "panics"), 0, "{name}: {}", r["first_panic"]);
        assert_eq!(
            u(r, "over_limit_allocs"),
            0,
            "{name}: {}",
            r["first_over_limit"]
        );
        assert_eq!(r["allocations_counted"], true, "{name}");
        assert_eq!(r["seeds_refused"], Value::Array(vec![]), "{name}");
        assert!(u(r, "max_alloc_bytes") > 0, "{name}");
        assert!(
            u(r, "max_alloc_bytes") <= u(r, "alloc_limit_bytes"),
            "{name}"
        );
        // The cases reach past the first checks: some decode, and some are
        // refused by a limit.
        assert!(u(r, "accepted") > 0, "{name}: {r}");
        let errors = r["errors"].as_object().unwrap();
        assert!(
            errors.get("limit").and_then(Value::as_u64).unwrap_or(0) > 0,
            "{name}: {r}"
        );
        let refused: u64 = errors.values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(u(r, "accepted") + refused, cases, "{name}");
    }
    assert!(ok, "fedwasm bench fuzz failed: {stderr}");
}

#[test]
fn one_decoder_by_name_and_unknown_names_are_refused() {
    let (ok, reports, _) = fuzz(&["--cases", "300", "--decoder", "csv"]);
    assert!(ok);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["decoder"], "csv");
    assert_eq!(u(&reports[0], "cases"), 300);
    let (ok, reports, stderr) = fuzz(&["--decoder", "nope"]);
    assert!(!ok && reports.is_empty());
    assert!(
        stderr.contains("unknown decoder \"nope\"") && stderr.contains("weights_binary"),
        "{stderr}"
    );
}

#[test]
fn one_case_is_reproducible_and_can_be_dumped() {
    let dir = std::env::temp_dir().join(format!("fedwasm-fuzz-case-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |file: &str| {
        let path = dir.join(file);
        let out = Command::new(env!("CARGO_BIN_EXE_fedwasm"))
            .args([
                "bench",
                "fuzz",
                "--decoder",
                "weights_json",
                "--case",
                "17",
                "--seed",
                "3",
            ])
            .arg("--dump")
            .arg(&path)
            .output()
            .expect("run fedwasm");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            std::fs::read(path).unwrap(),
        )
    };
    let (line, input) = run("a");
    let (again, same) = run("b");
    assert!(line.starts_with("weights_json case 17 (seed 3)"), "{line}");
    assert!(line.contains(&format!("{} bytes", input.len())), "{line}");
    assert_eq!(input, same);
    // The outcome is printed, and is the same each time.
    assert_eq!(line.split(" in ").next(), again.split(" in ").next());
    std::fs::remove_dir_all(&dir).unwrap();
}
