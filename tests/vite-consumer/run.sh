#!/usr/bin/env bash
# The Vite consumer: fedwasm as users install it.
#   1. `npm ci` here: vite and playwright-core, pinned in package-lock.json;
#   2. `npm pack` of pkg/ into a temporary directory, and that tarball
#      installed here with `npm install --no-save` (so package.json and the
#      lockfile stay as committed: the tarball's hash changes with every
#      engine build); a missing `files` entry in pkg/package.json shows here;
#   3. `vite build` into dist/;
#   4. vite-consumer.test.mjs: dist/ served on 127.0.0.1, the page run in
#      headless Chromium; then the same page under the Vite dev server.
# Needs pkg/wasm/ (bash tests/build-pkg.sh). Nothing is downloaded but the
# npm packages of step 1 (from the registry, or npm's cache).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
if [[ ! -f $root/pkg/wasm/fedwasm_bg.wasm ]]; then
  echo "no pkg/wasm/fedwasm_bg.wasm: run bash tests/build-pkg.sh first" >&2
  exit 1
fi
cd "$here"
npm ci --no-audit --no-fund --prefer-offline
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root/pkg" && npm pack --silent --pack-destination "$tmp" >/dev/null)
tgz=("$tmp"/fedwasm-*.tgz)
echo "packed: $(basename "${tgz[0]}") ($(stat -c %s "${tgz[0]}") bytes)"
npm install --no-save --no-audit --no-fund --prefer-offline "${tgz[0]}"
rm -rf dist
npx vite build
node --test vite-consumer.test.mjs
