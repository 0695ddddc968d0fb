#!/usr/bin/env bash
# Builds the aggregator's wasm (crate/fedwasm-aggregator: the protocol, the
# encodings, ServerRound, server optimizers; no wgpu, layers, kernels or
# training) into target/pkg-aggregator/ (or --out-dir DIR): cargo (profile
# wasm-size), `wasm-opt -Oz --converge`, then wasm-bindgen `--target web`
# (an ES module whose `initSync`/`init` take the .wasm's bytes; names and
# producers removed); prints the size of the .wasm, raw and gzip -9. With
# --check-size N, fails when it is over N bytes (tests/run.sh passes
# 204800: 200 KiB). tests/node/aggregator.test.mjs loads what it builds;
# tests/build-pkg.sh builds it into pkg/wasm-aggregator/ for the npm
# package (pkg/src/aggregator.js).
# Needs wasm32-unknown-unknown, wasm-bindgen-cli and binaryen's wasm-opt
# (tests/run.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

limit=""
out_dir=target/pkg-aggregator
while [[ $# -gt 0 ]]; do
  case $1 in
    --check-size) limit=$2; shift 2 ;;
    --out-dir) out_dir=$2; shift 2 ;;
    *) echo "usage: $0 [--check-size BYTES] [--out-dir DIR]" >&2; exit 2 ;;
  esac
done
wasm=target/wasm32-unknown-unknown/wasm-size/fedwasm_aggregator.wasm

# 1. The cdylib, size-optimised (profile wasm-size in Cargo.toml). The
#    engine's +simd128 rustflags do not matter here (no kernels).
cargo build -p fedwasm-aggregator --lib --profile wasm-size --target wasm32-unknown-unknown

# 2. wasm-opt -Oz on the cargo output, then the JS bindings (an ES module,
#    `--target web`: no fetch happens unless `init()` is called without
#    bytes, which the package never does). In this order because binaryen's wasm-opt (version 108, as
#    Debian ships it) rewrites wasm-bindgen's output with its externref table
#    export pointing at the function table, and the module then fails to load
#    ("WebAssembly.Table.set(): Argument 1 is invalid for table"). The
#    features are the ones rustc enables for wasm32-unknown-unknown.
opt_wasm=target/wasm32-unknown-unknown/wasm-size/fedwasm_aggregator.opt.wasm
wasm-opt -Oz --converge \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  -o "$opt_wasm" "$wasm"
wasm-bindgen --target web --remove-name-section --remove-producers-section \
  --out-dir "$out_dir" --out-name fedwasm_aggregator "$opt_wasm"

size=$(stat -c %s "$out_dir/fedwasm_aggregator_bg.wasm")
gz=$(gzip -9 -c "$out_dir/fedwasm_aggregator_bg.wasm" | wc -c)
echo "aggregator wasm (wasm-opt -Oz, then wasm-bindgen): $size bytes ($((size / 1024)) KiB; $gz gzip -9) in $out_dir/"
if [[ -n $limit && $size -gt $limit ]]; then
  echo "the aggregator wasm is over $limit bytes" >&2
  exit 1
fi
