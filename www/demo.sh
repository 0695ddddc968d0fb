#!/usr/bin/env bash
# The demo's main job: installs and builds what is missing, then serves the
# demo page (or drives it in headless Chromium).
#
#   bash www/demo.sh [--port N]          serve on http://127.0.0.1:N/ (default 8765)
#   bash www/demo.sh --headless [ARGS]   run the default task (FEMNIST FedAvg) in
#                                        headless Chromium; prints a line per round
#                                        and a screenshot's path; exit 0 on success.
#                                        ARGS go to www/headless.mjs: --task T,
#                                        --rounds N, --query 'k=v&..', --out DIR, --port N
#
# What it sets up, skipping what is present (the same checks as tests/run.sh):
# - Node.js >= 20;
# - pkg/wasm/ (the engine, `bash tests/build-pkg.sh`) when fedwasm_bg.wasm is
#   missing or older than the Rust sources of the engine; that needs the
#   wasm32-unknown-unknown target, wasm-bindgen-cli at the version in
#   Cargo.lock and wasm-pack (both `cargo install`ed: minutes on 2 cores),
#   and binaryen's wasm-opt (apt-get);
# - with --headless: playwright-core (pinned in www/package.json; `npm ci`
#   in www/, no browser download) and Debian's Chromium at /usr/bin/chromium
#   (apt-get, as root or through sudo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac

headless=0
port=""
rest=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --headless) headless=1 ;;
    --port)
      [[ $# -ge 2 ]] || { echo "--port needs a number" >&2; exit 2; }
      port=$2
      shift
      ;;
    -h | --help)
      sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) rest+=("$1") ;;
  esac
  shift
done
if [[ $headless -eq 0 && ${#rest[@]} -gt 0 ]]; then
  echo "unknown arguments: ${rest[*]} (without --headless only --port N is known)" >&2
  exit 2
fi

say() { printf '[demo] %s\n' "$*"; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get: install $* yourself" >&2
    return 1
  fi
  say "installing $* (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

check_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "node not found: install Node.js >= 20" >&2
    return 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [[ $major -lt 20 ]]; then
    echo "node $(node --version) is too old: the demo's tools need >= 20" >&2
    return 1
  fi
}

# The engine's wasm is stale when a source of the crates it is built from
# is newer than it.
wasm_is_current() {
  local wasm=pkg/wasm/fedwasm_bg.wasm
  [[ -f $wasm && -f pkg/wasm/fedwasm.js ]] || return 1
  local newer
  newer=$(find Cargo.toml Cargo.lock crate/fedwasm crate/fedwasm-protocol -newer "$wasm" -type f \
    \( -name '*.rs' -o -name '*.wgsl' -o -name 'Cargo.toml' -o -name 'Cargo.lock' -o -name '*.bin' -o -name '*.json' \) \
    -not -path '*/tests/*' -not -path '*/examples/*' -print -quit)
  if [[ -n $newer ]]; then
    say "pkg/wasm/ is older than $newer: rebuilding"
    return 1
  fi
}

ensure_wasm_toolchain() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust with rustup (https://rustup.rs), then rerun" >&2
    return 1
  fi
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  local want have
  want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/^version = "|"$/, ""); print; exit }' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [[ $have != "$want" ]]; then
    say "wasm-bindgen-cli: want $want (Cargo.lock), have '${have:-none}'; installing (~4 min on 2 cores)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
  if ! command -v wasm-pack >/dev/null 2>&1; then
    say "wasm-pack: installing (cargo install wasm-pack; a few minutes)"
    cargo install wasm-pack
  fi
  command -v wasm-opt >/dev/null 2>&1 || apt_install binaryen
}

ensure_engine() {
  if [[ ! -f pkg/src/index.js || ! -f pkg/package.json ]]; then
    echo "pkg/src/index.js is missing: the npm package's glue (pkg/) must be in the checkout" >&2
    return 1
  fi
  if wasm_is_current; then
    say "pkg/wasm/: present and current"
    return 0
  fi
  ensure_wasm_toolchain
  bash tests/build-pkg.sh
}

ensure_playwright() {
  local want have
  want=$(node -p 'require("./www/package.json").devDependencies["playwright-core"]')
  have=$(node -p 'try { require("./www/node_modules/playwright-core/package.json").version } catch { "" }')
  if [[ $have != "$want" ]]; then
    say "playwright-core $want: installing (npm ci in www/)"
    npm ci --prefix www --no-audit --no-fund
  fi
  if [[ ! -x ${CHROMIUM:-/usr/bin/chromium} ]]; then
    apt_install chromium
  fi
}

check_node
ensure_engine

if [[ $headless -eq 1 ]]; then
  ensure_playwright
  exec node www/headless.mjs ${port:+--port "$port"} "${rest[@]}"
fi
exec node www/serve.mjs --port "${port:-8765}"
