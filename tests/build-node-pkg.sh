#!/usr/bin/env bash
# Builds the Node.js package of fedwasm into target/pkg-node/:
#   fedwasm.js (CommonJS glue), fedwasm_bg.wasm, fedwasm.d.ts.
# Used by tests/run.sh before the Node tests (tests/node/*.test.mjs); also
# usable alone. Needs the wasm32-unknown-unknown target and wasm-bindgen-cli
# at the version of `wasm-bindgen` in Cargo.lock (tests/run.sh installs both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out_dir=target/pkg-node
wasm=target/wasm32-unknown-unknown/release/fedwasm.wasm

# 1. Compile the cdylib for wasm32 (release: what users get; rustflags such as
#    +simd128 come from .cargo/config.toml).
cargo build -p fedwasm --lib --release --target wasm32-unknown-unknown

# 2. Generate the JS bindings for Node.js (CommonJS, loads the .wasm
#    synchronously from beside fedwasm.js).
wasm-bindgen --target nodejs --out-dir "$out_dir" "$wasm"

echo "Node package: $out_dir/ ($(du -h "$out_dir/fedwasm_bg.wasm" | cut -f1) of wasm)"
