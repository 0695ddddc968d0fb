//! `--help` for the command and every subcommand: one entry per command,
//! its usage line and what each flag does.

/// One subcommand's help.
pub(crate) struct Help {
    /// The words that name it (`["bench", "train"]`).
    pub path: &'static [&'static str],
    /// What it does, then its flags.
    pub text: &'static str,
}

pub(crate) const COMMANDS: &[Help] = &[
    Help {
        path: &["train"],
        text: "fedwasm train: trains a model locally on FEMNIST digits and evaluates it.

usage: fedwasm train [--model cnn|softmax] [--epochs N] [--batch N] [--lr X] [--seed S]
                     [--data DIR] [--writers N] [--json]

Trains TFF's EMNIST CNN (cnn_dropout, default) or a softmax regression with
SGD on the embedded digits of 10 FEMNIST writers, printing loss and accuracy
per epoch, then evaluates on the same writers' test digits. Exits non-zero
when training diverges (a non-finite loss), naming the epoch and batch.

  --model cnn|softmax   the model (default cnn)
  --epochs N            passes over the data (default 5)
  --batch N             batch size (default 20)
  --lr X                SGD learning rate (default 0.1 for cnn, 0.02 for softmax)
  --seed S              shuffle, dropout and initializer seed (default 1)
  --data DIR            a LEAF directory with train/ and test/ instead of the embedded digits
  --writers N           use the first N writers of --data (default: all)
  --json                one JSON object per line instead of text
environment: FEDWASM_BACKEND=cpu|webgpu|auto (default auto)",
    },
    Help {
        path: &["simulate"],
        text: "fedwasm simulate: TFF's tutorial federated simulations, one JSON line per round.

usage: fedwasm simulate --workload w1|w2|w3 [flags]

  --workload w1|w2|w3   w1: EMNIST tutorial (FedAvg, softmax, 10 writers); w2: cnn_dropout,
                        sampled writers, clients on every core; w3: Federated Reconstruction
                        (matrix factorisation on MovieLens-shaped ratings)
  --data DIR            LEAF directory (w1, w2; default: the embedded digits)
  --ratings FILE        MovieLens u.data (w3; default: synthetic ratings)
  --rounds N  --clients N  --epochs N  --batch N
  --client-lr X  --server-lr X  --recon-lr X  --seed S
  --eval-every N        FedEval every N rounds
  --threads N           client threads (w2; default: the core count)
  --writers N           use the first N writers
  --dim K               embedding size (w3)
  --stateful            w3 with seed 003's stateful clients instead of reconstruction
  --save-state FILE     w1, w2: write the final state as an FWCK checkpoint (the JS
                        package's LearningProcessState.fromBytes reads it)
environment: FEDWASM_BACKEND=cpu|webgpu|auto",
    },
    Help {
        path: &["bench", "train"],
        text: "fedwasm bench train: local training speed (examples per second).

usage: fedwasm bench train --model softmax|cnn [--batch N] [--examples N] [--epochs N] [--json]

  --model softmax|cnn   the model
  --batch N             batch size (default 20)
  --examples N          examples per epoch (default 10000 softmax, 1000 cnn)
  --epochs N            timed epochs (default 3)
  --json                one JSON object
environment: FEDWASM_BACKEND=cpu|webgpu|auto",
    },
    Help {
        path: &["bench", "recon"],
        text: "fedwasm bench recon: the client side of Federated Reconstruction rounds.

usage: fedwasm bench recon [--clients N] [--rounds N] [--json]

  --clients N           clients per round (default 50)
  --rounds N            rounds (default 7)
  --json                one JSON object
environment: FEDWASM_BACKEND=cpu|webgpu|auto",
    },
    Help {
        path: &["bench", "matmul"],
        text: "fedwasm bench matmul: square GEMM rates, WebGPU kernel vs CPU backend.

usage: fedwasm bench matmul [--sizes 256,512,1024] [--runs N] [--json]

  --sizes A,B,..        matrix sizes (default 256,512,1024)
  --runs N              runs per size; the median is reported (default 5)
  --json                one JSON object
Needs a WebGPU (Vulkan) adapter.",
    },
    Help {
        path: &["bench", "fuzz"],
        text: "fedwasm bench fuzz: mutated inputs for every decoder of untrusted bytes.

usage: fedwasm bench fuzz [--cases N] [--decoder NAME] [--seed S] [--json]
       fedwasm bench fuzz --decoder NAME --case C [--seed S] [--dump FILE]

Decodes N mutations (bit flips, byte sets, truncations, length-field and
number edits, splices, inserted and deleted runs, inputs past the size
limit) of valid inputs of each decoder (weights files, the FEMNIST pack,
model descriptions, checkpoints, optimizer state and config, LEAF,
MovieLens, CSV, the protocol messages) under lowered limits, and prints per
decoder the cases, panics, largest allocation, allocations over the limits
and seconds. Exits non-zero on any panic or over-limit allocation, naming
the first case (rerun it with the same --seed).

  --cases N             cases per decoder (default 1000000)
  --decoder NAME        only this decoder (an unknown name lists them)
  --seed S              seed of the cases (default 1)
  --case C              decode only case C of --decoder NAME (its outcome and time)
  --dump FILE           with --case: write the case's input to FILE
  --json                one JSON object per decoder",
    },
    Help {
        path: &["reference-run"],
        text: "fedwasm reference-run: the deterministic reference run shared with the wasm build.

usage: fedwasm reference-run [--seed S]

Prints JSON (losses and weights) that the wasm32 build must reproduce
within 1e-5 (tests/node/cross_target.test.mjs).

  --seed S              seed (default 1)",
    },
];

/// The overview printed by `fedwasm --help`.
pub(crate) fn overview() -> String {
    let mut s = String::from(
        "fedwasm: tff.learning in Rust and WebAssembly.\n\nusage: fedwasm <command> [flags]; \
         fedwasm <command> --help for its flags\n\ncommands:\n",
    );
    for c in COMMANDS {
        let first = c.text.lines().next().unwrap_or("");
        let about = first.split_once(": ").map_or(first, |(_, a)| a);
        s.push_str(&format!("  {:<16} {about}\n", c.path.join(" ")));
    }
    s.push_str("environment: FEDWASM_BACKEND=cpu|webgpu|auto");
    s
}

/// The help of the command `args` names, when `args` asks for it
/// (`--help` or `-h` after the command's words).
pub(crate) fn requested(args: &[String]) -> Option<&'static str> {
    if !args.iter().any(|a| a == "--help" || a == "-h") {
        return None;
    }
    COMMANDS
        .iter()
        .filter(|c| c.path.len() <= args.len() && c.path.iter().zip(args).all(|(p, a)| p == a))
        .max_by_key(|c| c.path.len())
        .map(|c| c.text)
}
