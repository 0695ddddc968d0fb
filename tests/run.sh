#!/usr/bin/env bash
# The fedwasm test suite: `bash tests/run.sh` (CI runs it through .ci/run).
#
# 1. Setup (idempotent; each install is skipped when already present):
#    the wasm32-unknown-unknown target, clippy and rustfmt, wasm-bindgen-cli at
#    the version of `wasm-bindgen` pinned in Cargo.lock, Mesa's Vulkan drivers
#    (llvmpipe, for the native WebGPU tests; apt-get, as root or via sudo),
#    Chromium and chromedriver (for the wasm32 WebGPU tests; apt-get too),
#    binaryen's wasm-opt (for the aggregator's wasm, tests/build-aggregator.sh;
#    apt-get too), wasm-pack (cargo install; for the npm package), and a Node.js check.
# 2. Checks, in order, failing fast: rustfmt, clippy (native, then wasm32
#    library and tests), rustdoc, native tests, the short decoder fuzz run
#    in release (overflow checks off), wasm32 tests in Node.js,
#    wasm32 WebGPU tests in headless Chromium, Node-side JS tests, the npm
#    package (built with wasm-pack, packed, installed into a fresh project
#    and tested there, TypeScript consumer included).
#
# Every step prints a header and its elapsed time; a summary table closes the
# run. On the first failure the script stops and exits non-zero, naming the step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The native WebGPU tests (wgpu on Mesa's llvmpipe) need a runtime dir; CI may lack one.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# A fresh clone is built once: incremental caches would only use disk.
if [[ -n "${CI:-}" ]]; then export CARGO_INCREMENTAL=0; fi
# Binaries from `cargo install` must be on PATH.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in
  *":$cargo_bin:"*) ;;
  *) export PATH="$cargo_bin:$PATH" ;;
esac

wasm_target=wasm32-unknown-unknown

# ---------------------------------------------------------------------------
# Step bookkeeping: headers, per-step timing, summary, failure report.
# ---------------------------------------------------------------------------
run_start=$SECONDS
current_step=""
step_start=0
summary=()

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# run_step NAME COMMAND [ARGS...]: runs one step. Called at top level (not in
# `if` or `||`), so `set -e` stays in force inside COMMAND and any failure ends
# the script; the EXIT trap below then names the failed step.
run_step() {
  current_step=$1
  shift
  step_start=$SECONDS
  printf '\n==== [%s] %s\n' "$(date +%H:%M:%S)" "$current_step"
  "$@"
  local took=$((SECONDS - step_start))
  printf -- '---- ok: %s (%s)\n' "$current_step" "$(fmt_secs "$took")"
  summary+=("$(printf '%8s  %s' "$(fmt_secs "$took")" "$current_step")")
  current_step=""
}

print_summary() {
  printf '\n==== Summary\n'
  local line
  for line in "${summary[@]}"; do printf '%s\n' "$line"; done
  printf '%8s  total\n' "$(fmt_secs $((SECONDS - run_start)))"
}

on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    print_summary
    # Disk and memory at the failure: a full disk fails a link with a
    # message that the tail of a long log may not show.
    df -h . 2>/dev/null | tail -n 1 | awk '{print "disk: " $4 " free of " $2}' >&2
    free -m 2>/dev/null | awk '/^Mem:/ {print "memory: " $7 " MiB available of " $2}' >&2
    printf '\nFAILED: %s (exit %d, after %s)\n' "${current_step:-setup}" "$rc" \
      "$(fmt_secs $((SECONDS - step_start)))" >&2
  fi
}
trap on_exit EXIT

# ---------------------------------------------------------------------------
# Setup steps
# ---------------------------------------------------------------------------

# The WebAssembly target (std for wasm32-unknown-unknown).
ensure_wasm_target() {
  if rustup target list --installed | grep -qx "$wasm_target"; then
    echo "$wasm_target: present"
  else
    rustup target add "$wasm_target"
  fi
}

# clippy and rustfmt (`cargo clippy`/`cargo fmt` fail until they are installed).
ensure_components() {
  local missing=()
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "clippy, rustfmt: present"
  else
    rustup component add "${missing[@]}"
  fi
}

# Version of the `wasm-bindgen` package in Cargo.lock (e.g. 0.2.130).
locked_wasm_bindgen_version() {
  awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/^version = "|"$/, ""); print; exit }' Cargo.lock
}

# wasm-bindgen-cli must match the wasm-bindgen crate exactly: the CLI refuses
# wasm built against another version. It provides `wasm-bindgen` (the
# bindings generator) and `wasm-bindgen-test-runner` (the cargo test runner set
# in .cargo/config.toml). No --locked: with it, the install fails because one
# locked dependency is missing from the crates.io mirror.
ensure_wasm_bindgen_cli() {
  local want have_bg have_runner
  want=$(locked_wasm_bindgen_version)
  if [[ -z $want ]]; then
    echo "no wasm-bindgen package in Cargo.lock" >&2
    return 1
  fi
  # A machine image may still be installing it in the background: wait for
  # that rather than starting a second, concurrent build of the same thing.
  local waited=0
  while pgrep -f "cargo install wasm-bindgen-cli" >/dev/null 2>&1 && [[ $waited -lt 1800 ]]; do
    [[ $waited -eq 0 ]] && echo "waiting for a running 'cargo install wasm-bindgen-cli' to finish..."
    sleep 10
    waited=$((waited + 10))
  done
  have_bg=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  have_runner=$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}' || true)
  if [[ $have_bg == "$want" && $have_runner == "$want" ]]; then
    echo "wasm-bindgen-cli $want: present"
  else
    echo "wasm-bindgen-cli: want $want, have '${have_bg:-none}' (runner '${have_runner:-none}'); installing (~4 min on 2 cores)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

# Mesa's Vulkan drivers: llvmpipe runs Vulkan (so wgpu, so the native WebGPU
# tests in crate/fedwasm/tests/webgpu.rs) on the CPU of a machine without a GPU. The
# tests fail, loudly, when no adapter is found: they never skip.
ensure_vulkan_driver() {
  if dpkg-query -W -f='${Status}' mesa-vulkan-drivers 2>/dev/null | grep -q "install ok installed"; then
    echo "mesa-vulkan-drivers: present"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get: install Mesa's Vulkan drivers (llvmpipe) or another Vulkan driver yourself" >&2
    return 1
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  echo "mesa-vulkan-drivers: installing"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers
}

# binaryen's wasm-opt: tests/build-aggregator.sh optimises the aggregator's
# wasm with it (and checks its size after). Debian's package.
ensure_binaryen() {
  if command -v wasm-opt >/dev/null 2>&1; then
    echo "wasm-opt: present ($(wasm-opt --version))"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get: install binaryen (wasm-opt) yourself" >&2
    return 1
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  echo "binaryen: installing"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen
}

# wasm-pack builds the npm package's engine (tests/build-pkg.sh), using the
# wasm-bindgen-cli above (`--mode no-install`: it never downloads one).
ensure_wasm_pack() {
  if command -v wasm-pack >/dev/null 2>&1; then
    echo "wasm-pack: present ($(wasm-pack --version))"
    return 0
  fi
  echo "wasm-pack: installing (~4 min on 2 cores)"
  cargo install wasm-pack
}

# The demo page (www/): the README's main job in headless Chromium (it
# installs playwright-core, pinned in www/package.json: no browser
# download), then the end-to-end tests (tests/e2e/; screenshots in
# target/test-artifacts/).
demo_tests() {
  bash www/demo.sh --headless --rounds 3
  node --test tests/e2e/
}

# The round coordinator with real clients (tests/coordinator): the task
# file, frames, tokens, every kind of bad message, the upload gate,
# FedRecon's privacy (every outgoing frame recorded), TLS with a
# self-signed certificate, 30% of the clients cut mid-round against a
# fault-free run, and the coordinator SIGKILLed twice and resumed. The
# package's `ws` comes from its lockfile (npm ci).
coordinator_tests() {
  npm ci --prefix pkg --no-audit --no-fund
  node --test tests/coordinator/
}

# openssl: the TLS test makes its self-signed certificate with it.
ensure_openssl() {
  if command -v openssl >/dev/null 2>&1; then
    echo "openssl: present"
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl
}

# Headless Chromium and its WebDriver: the wasm32 WebGPU tests (the test
# files that call `wasm_bindgen_test_configure!(run_in_browser)`) run in it,
# on Chromium's own WebGPU (Dawn on SwiftShader, a CPU Vulkan: no GPU needed).
# wasm-bindgen-test-runner drives it through chromedriver (CHROMEDRIVER, set
# in wasm_browser_tests). Debian's packages, so the two share a version.
ensure_chromium() {
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    echo "chromium, chromium-driver: present"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get: install Chromium and a matching chromedriver at /usr/bin/chromium and /usr/bin/chromedriver yourself" >&2
    return 1
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  echo "chromium, chromium-driver: installing"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
}

# Node.js runs the wasm32 tests (via wasm-bindgen-test-runner) and the JS tests
# (`node --test` needs Node >= 18).
check_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "node not found: install Node.js >= 18" >&2
    return 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [[ $major -lt 18 ]]; then
    echo "node $(node --version) is too old: need >= 18" >&2
    return 1
  fi
  echo "node $(node --version)"
}

show_versions() {
  df -h . | tail -n 1 | awk '{print "disk: " $4 " free of " $2}'
  rustc --version
  cargo --version
  wasm-bindgen --version
  wasm-opt --version
  node --version
  # Debian's wrapper script prints a harmless shell warning on some machines.
  chromium --version 2>/dev/null
  chromedriver --version
}

# ---------------------------------------------------------------------------
# Check steps
# ---------------------------------------------------------------------------

# Node-side JS tests: build the Node package (tests/build-node-pkg.sh) and the
# aggregator's (tests/build-aggregator.sh, which fails when its optimised wasm
# is over 200 KiB), then run every tests/node/*.test.mjs with the built-in
# runner. Skipped when none exist.
node_tests() {
  local files=()
  shopt -s nullglob
  files=(tests/node/*.test.mjs)
  shopt -u nullglob
  if [[ ${#files[@]} -eq 0 ]]; then
    echo "no tests/node/*.test.mjs yet: skipped"
    return 0
  fi
  bash tests/build-node-pkg.sh
  bash tests/build-aggregator.sh --check-size 204800
  node --test "${files[@]}"
}

# The wasm32 test files that run in a browser: those in crate/fedwasm/tests that call
# `wasm_bindgen_test_configure!(run_in_browser)` (or `run_in_dedicated_worker`:
# a Web Worker of the same browser), as `--test NAME` arguments.
browser_test_args() {
  local f
  for f in crate/fedwasm/tests/*.rs; do
    if grep -Eq '^\s*(wasm_bindgen_test::)?wasm_bindgen_test_configure!\(\s*run_in_(browser|dedicated_worker)' "$f"; then
      printf -- '--test\n%s\n' "$(basename "$f" .rs)"
    fi
  done
}

# wasm32 in Node.js: the library's own #[wasm_bindgen_test]s and the
# integration tests in crate/fedwasm/tests/*.rs. The binary target is left out: it is
# the native CLI. (Plain #[test]s do not run here.) WASM_BINDGEN_TEST_ONLY_NODE
# makes the runner skip, with a message, the browser test files, which the next
# step runs (they still compile here, so that step only links and runs them).
wasm_node_tests() {
  WASM_BINDGEN_TEST_ONLY_NODE=1 cargo test -p fedwasm --target "$wasm_target" --lib --test '*'
}

# wasm32 in headless Chromium with WebGPU: the browser test files (see
# browser_test_args: browser_webgpu.rs, the webgpu_*.rs files and worker_yield.rs, in a Web Worker), on Chromium's
# SwiftShader adapter. wasm-bindgen-test-runner starts chromedriver
# (CHROMEDRIVER), which starts Chromium with the capabilities in
# crate/fedwasm/webdriver.json (WASM_BINDGEN_TEST_WEBDRIVER_JSON; by default the runner
# reads ./webdriver.json, and cargo runs tests in crate/fedwasm/, so a plain
# `cargo test --target wasm32-unknown-unknown --test browser_webgpu` with
# CHROMEDRIVER set finds it too). Its flags:
#   --headless=new               no display: Chromium's full headless mode;
#   --no-sandbox                 CI runs as root, where Chromium refuses to
#                                start with its sandbox;
#   --enable-unsafe-webgpu       WebGPU where Chromium leaves it off (Linux
#                                without a supported GPU), including the
#                                SwiftShader fallback adapter: without the
#                                flag requestAdapter() gives null here;
#   --disable-background-networking --disable-component-update --disable-sync
#   --no-first-run --disable-quic
#                                no update checks, component downloads, sync or
#                                first-run work: CI machines may have no
#                                internet, and those requests would only stall.
# Failing, never skipping: no driver or browser fails the runner, no WebGPU
# adapter fails every test (see the test file). WASM_BINDGEN_TEST_TIMEOUT
# bounds each test binary (default 20 s; webgpu_memory.rs takes about a minute
# on 2 idle cores, four under load: 600 s leaves room).
wasm_browser_tests() {
  local args=()
  mapfile -t args < <(browser_test_args)
  if [[ ${#args[@]} -eq 0 ]]; then
    echo "no browser test files (run_in_browser) in crate/fedwasm/tests" >&2
    return 1
  fi
  # wasm-pack test: it finds wasm-bindgen-test-runner on PATH (--mode
  # no-install) and Debian's chromedriver (--chromedriver), so it downloads
  # nothing; the runner reads crate/fedwasm/webdriver.json. No `--` before
  # the --test arguments: after `--` they would go to the test binary.
  CHROMEDRIVER=/usr/bin/chromedriver \
    WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/crate/fedwasm/webdriver.json" \
    WASM_BINDGEN_TEST_TIMEOUT=600 \
    wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver \
    --mode no-install crate/fedwasm "${args[@]}"
}

# The README's main job (one epoch) and every example: what users run first.
examples_and_main_job() {
  cargo run -q -p fedwasm-cli -- train --epochs 1
  local ex
  for ex in crate/fedwasm/examples/*.rs; do
    ex=$(basename "$ex" .rs)
    echo "-- example $ex"
    cargo run -q -p fedwasm --example "$ex"
  done
}

run_step "setup: rustup target $wasm_target" ensure_wasm_target
run_step "setup: clippy + rustfmt" ensure_components
run_step "setup: wasm-bindgen-cli (version from Cargo.lock)" ensure_wasm_bindgen_cli
run_step "setup: Mesa Vulkan drivers (llvmpipe)" ensure_vulkan_driver
run_step "setup: Chromium + chromedriver" ensure_chromium
run_step "setup: binaryen (wasm-opt)" ensure_binaryen
run_step "setup: wasm-pack" ensure_wasm_pack
run_step "setup: node" check_node
run_step "setup: openssl" ensure_openssl
run_step "versions" show_versions

run_step "cargo fmt --all --check" cargo fmt --all --check
run_step "clippy (native, all targets)" cargo clippy --workspace --all-targets -- -D warnings
# wasm32 tests too: crate/fedwasm/tests/browser_webgpu.rs compiles for wasm32 only.
run_step "clippy (wasm32, lib + tests)" cargo clippy --workspace --target "$wasm_target" --lib --tests -- -D warnings
run_step "cargo doc (-D warnings)" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p fedwasm -p fedwasm-protocol
run_step "native tests" cargo test --workspace
# The short fuzz run again with overflow checks off, as in release: a size
# that wraps there must still be caught by the checks
# (crate/fedwasm-cli/tests/fuzz.rs). Profile `unchecked` (Cargo.toml) has
# release semantics (no overflow checks, no debug assertions) at the compile
# time of a dev build.
run_step "fuzz (release semantics, short)" cargo test --profile unchecked -p fedwasm-cli --test fuzz
run_step "main job and examples" examples_and_main_job
run_step "wasm32 tests (Node.js)" wasm_node_tests
run_step "wasm32 WebGPU tests (headless Chromium, wasm-pack test)" wasm_browser_tests
run_step "Node JS tests (tests/node)" node_tests
run_step "npm package: build (wasm-pack, tests/build-pkg.sh)" bash tests/build-pkg.sh
run_step "npm package: the tarball in a fresh project (tests/pkg-node)" bash tests/pkg-node/run.sh
run_step "npm package in Chromium, no bundler (tests/pkg-browser)" bash tests/pkg-browser/run.sh
run_step "npm package in a Vite 8 app (tests/vite-consumer)" bash tests/vite-consumer/run.sh
run_step "coordinator and real clients (tests/coordinator)" coordinator_tests
run_step "demo page: the main job --headless, then its end-to-end tests" demo_tests

print_summary
printf '\nAll checks passed.\n'
