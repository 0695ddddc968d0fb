//! Backend selection through the CLI (native only).
#![cfg(not(target_arch = "wasm32"))]

/// `FEDWASM_BACKEND=webgpu` on a machine without an adapter (no Vulkan
/// driver visible) fails with a message naming WebGPU; `auto` runs on the CPU.
#[test]
fn forcing_webgpu_without_an_adapter_is_an_error() {
    let run = |choice: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fedwasm"))
            .args(["train", "--model", "softmax", "--epochs", "1"])
            .env("FEDWASM_BACKEND", choice)
            .env("VK_ICD_FILENAMES", "/nonexistent.json")
            .env("VK_DRIVER_FILES", "/nonexistent.json")
            .output()
            .unwrap()
    };
    let forced = run("webgpu");
    let stderr = String::from_utf8_lossy(&forced.stderr);
    assert!(
        !forced.status.success(),
        "forced webgpu without an adapter must fail"
    );
    assert!(stderr.contains("webgpu"), "{stderr}");
    let auto = run("auto");
    assert!(
        auto.status.success(),
        "auto falls back to the CPU: {}",
        String::from_utf8_lossy(&auto.stderr)
    );
}

/// Every subcommand answers `--help` (and `-h`) with its own flags, exit 0.
#[test]
fn every_subcommand_answers_help() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedwasm"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    for (args, expect) in [
        (&["--help"][..], "commands:"),
        (&["train", "--help"], "--epochs N"),
        (&["train", "-h"], "--lr X"),
        (&["simulate", "--help"], "--workload"),
        (&["bench", "train", "--help"], "--examples N"),
        (&["bench", "recon", "--help"], "--clients N"),
        (&["bench", "matmul", "--help"], "--sizes"),
        (&["bench", "fuzz", "--help"], "--decoder NAME"),
        (&["reference-run", "--help"], "--seed S"),
    ] {
        let text = run(args);
        assert!(text.contains(expect), "{args:?}: {text}");
    }
    // The overview lists every subcommand.
    let overview = run(&["--help"]);
    for c in [
        "train",
        "simulate",
        "bench train",
        "bench recon",
        "bench matmul",
        "bench fuzz",
        "reference-run",
    ] {
        assert!(overview.contains(c), "{c}: {overview}");
    }
}
