#!/usr/bin/env bash
# Builds the aggregator's wasm (crate/fedwasm-aggregator: the protocol, the
# encodings, ServerRound, server optimizers; no wgpu, layers, kernels or
# training) into target/pkg-aggregator/ for Node.js, optimises it with
# `wasm-opt -Oz`, and prints its size. With --check-size N, fails when the
# optimised .wasm is over N bytes (tests/run.sh passes 204800: 200 KiB).
# Needs wasm32-unknown-unknown, wasm-bindgen-cli and binaryen's wasm-opt
# (tests/run.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

limit=""
if [[ ${1:-} == --check-size ]]; then
  limit=$2
fi
out_dir=target/pkg-aggregator
wasm=target/wasm32-unknown-unknown/wasm-size/fedwasm_aggregator.wasm

# 1. The cdylib, size-optimised (profile wasm-size in Cargo.toml). The
#    engine's +simd128 rustflags do not matter here (no kernels).
cargo build -p fedwasm-aggregator --lib --profile wasm-size --target wasm32-unknown-unknown

# 2. JS bindings for Node.js (CommonJS), then wasm-opt on the bindgen output.
wasm-bindgen --target nodejs --out-dir "$out_dir" "$wasm"
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals -o "$out_dir/fedwasm_aggregator_bg.wasm" "$out_dir/fedwasm_aggregator_bg.wasm"

size=$(stat -c %s "$out_dir/fedwasm_aggregator_bg.wasm")
echo "aggregator wasm after wasm-opt -Oz: $size bytes ($((size / 1024)) KiB) in $out_dir/"
if [[ -n $limit && $size -gt $limit ]]; then
  echo "the aggregator wasm is over $limit bytes" >&2
  exit 1
fi
