#!/usr/bin/env bash
# Builds the browser package of fedwasm into target/pkg-web/:
#   fedwasm.js (ES module glue; its default export `init()` fetches the wasm
#   beside it), fedwasm_bg.wasm, fedwasm.d.ts.
# Used by tests/browser/bench.mjs (the benchmarks in headless Chromium); also
# usable alone. Needs the wasm32-unknown-unknown target and wasm-bindgen-cli
# at the version of `wasm-bindgen` in Cargo.lock (tests/run.sh installs both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out_dir=target/pkg-web
wasm=target/wasm32-unknown-unknown/release/fedwasm.wasm

# 0. wasm-bindgen-cli must match the wasm-bindgen crate exactly (the CLI
#    refuses wasm built against another version): say so before compiling.
want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/^version = "|"$/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ $have != "$want" ]]; then
  echo "wasm-bindgen-cli: want $want (from Cargo.lock), have '${have:-none}';" \
    "install it with: cargo install wasm-bindgen-cli --version $want --force" \
    "(or run bash tests/run.sh once)" >&2
  exit 1
fi

# 1. Compile the cdylib for wasm32 (release: what users get; rustflags such as
#    +simd128 come from .cargo/config.toml). The same artefact as
#    tests/build-node-pkg.sh: building one after the other compiles once.
cargo build -p fedwasm --lib --release --target wasm32-unknown-unknown

# 2. Generate the JS bindings for browsers (an ES module; no bundler needed).
wasm-bindgen --target web --out-dir "$out_dir" "$wasm"

echo "Web package: $out_dir/ ($(du -h "$out_dir/fedwasm_bg.wasm" | cut -f1) of wasm)"
