#!/usr/bin/env bash
# Builds the aggregator's wasm (crate/fedwasm-aggregator: the protocol, the
# encodings, ServerRound, server optimizers; no wgpu, layers, kernels or
# training) into target/pkg-aggregator/ for Node.js: cargo (profile
# wasm-size), `wasm-opt -Oz --converge`, then wasm-bindgen (names and
# producers removed); prints the size of the .wasm. With --check-size N,
# fails when it is over N bytes (tests/run.sh passes 204800: 200 KiB).
# tests/node/aggregator.test.mjs loads the package it builds.
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

# 2. wasm-opt -Oz on the cargo output, then the JS bindings for Node.js
#    (CommonJS). In this order because binaryen's wasm-opt (version 108, as
#    Debian ships it) rewrites wasm-bindgen's output with its externref table
#    export pointing at the function table, and the module then fails to load
#    ("WebAssembly.Table.set(): Argument 1 is invalid for table"). The
#    features are the ones rustc enables for wasm32-unknown-unknown.
opt_wasm=target/wasm32-unknown-unknown/wasm-size/fedwasm_aggregator.opt.wasm
wasm-opt -Oz --converge \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  -o "$opt_wasm" "$wasm"
wasm-bindgen --target nodejs --remove-name-section --remove-producers-section \
  --out-dir "$out_dir" --out-name fedwasm_aggregator "$opt_wasm"

size=$(stat -c %s "$out_dir/fedwasm_aggregator_bg.wasm")
echo "aggregator wasm (wasm-opt -Oz, then wasm-bindgen): $size bytes ($((size / 1024)) KiB) in $out_dir/"
if [[ -n $limit && $size -gt $limit ]]; then
  echo "the aggregator wasm is over $limit bytes" >&2
  exit 1
fi
