#!/usr/bin/env bash
# Builds the npm package's engine into pkg/wasm/ with wasm-pack:
#   fedwasm.js (ES module glue, `--target web`: the .wasm is a separate
#   asset the package's glue fetches or reads), fedwasm_bg.wasm,
#   fedwasm.d.ts. Then the aggregator (crate/fedwasm-aggregator, the
#   server side of a round; pkg/src/aggregator.js loads it) into
#   pkg/wasm-aggregator/ with tests/build-aggregator.sh (`--target web`,
#   wasm-opt -Oz, at most 200 KiB). Generated, never committed
#   (pkg/.gitignore).
# Then `cd pkg && npm pack` gives the installable tarball.
#
# wasm-pack is pointed at what is installed (never downloads a binary):
# wasm-bindgen-cli at the version in Cargo.lock (tests/run.sh installs it)
# is found on PATH, and wasm-opt is Debian's binaryen (the feature flags in
# crate/fedwasm/Cargo.toml's wasm-pack metadata match what rustc emits).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac

want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/^version = "|"$/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ $have != "$want" ]]; then
  echo "wasm-bindgen-cli: want $want (from Cargo.lock), have '${have:-none}';" \
    "install it with: cargo install wasm-bindgen-cli --version $want --force" \
    "(or run bash tests/run.sh once)" >&2
  exit 1
fi
if ! command -v wasm-pack >/dev/null; then
  echo "wasm-pack: missing; install it with: cargo install wasm-pack (or run bash tests/run.sh once)" >&2
  exit 1
fi

# --mode no-install: use the wasm-bindgen on PATH, never download one.
wasm-pack build crate/fedwasm --release --target web --mode no-install \
  --out-dir ../../pkg/wasm --out-name fedwasm --weak-refs --no-pack

wasm=pkg/wasm/fedwasm_bg.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "pkg/wasm/: fedwasm_bg.wasm $raw bytes ($gz gzip -9)"

# The aggregator (its size check is the test suite's: 200 KiB).
bash tests/build-aggregator.sh --check-size 204800 --out-dir pkg/wasm-aggregator
