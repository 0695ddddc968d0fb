//! `fedwasm train`: a run whose loss stops being finite fails, naming the
//! epoch and batch (native only).
#![cfg(not(target_arch = "wasm32"))]

use std::process::Output;

fn train(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fedwasm"))
        .args(["train", "--model", "softmax"])
        .args(args)
        .env("FEDWASM_BACKEND", "cpu")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Epoch lines printed (`epoch   1: loss ..`).
fn epoch_lines(out: &Output) -> usize {
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("epoch"))
        .count()
}

/// `--lr 1e36` on the zero-initialised softmax: the second batch's loss is
/// not finite. The run exits 1 before printing any epoch, naming epoch 0 and
/// batch 1; the same run at the default rate succeeds.
#[test]
fn a_diverging_run_exits_non_zero_naming_epoch_and_batch() {
    let out = train(&["--epochs", "2", "--lr", "1e36"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("training diverged at epoch 0, batch 1:"),
        "{stderr}"
    );
    assert_eq!(epoch_lines(&out), 0, "{}", text(&out.stdout));
    assert!(!text(&out.stdout).contains("NaN"));

    let ok = train(&["--epochs", "2"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(epoch_lines(&ok), 2);
}

/// At 1.33e33 the first epoch's loss sum stays within f32 and the second
/// one's passes it: epoch 1 (the line "epoch 2") is named, after the first
/// epoch's line, in the text and the JSON output alike.
#[test]
fn divergence_in_a_later_epoch_is_named_by_its_index() {
    for json in [false, true] {
        let mut args = vec!["--epochs", "3", "--lr", "1.33e33"];
        if json {
            args.push("--json");
        }
        let out = train(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
        assert!(
            stderr.contains("training diverged at epoch 1, batch "),
            "{stderr}"
        );
        assert!(stderr.contains("is the line \"epoch 2\""), "{stderr}");
        let printed = if json {
            text(&out.stdout)
                .lines()
                .filter(|l| l.starts_with("{\"epoch\""))
                .count()
        } else {
            epoch_lines(&out)
        };
        assert_eq!(printed, 1, "{}", text(&out.stdout));
    }
}
