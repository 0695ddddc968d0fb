#!/usr/bin/env bash
# The npm package (pkg/) in headless Chromium from a plain module page:
#   1. `npm ci` here: playwright-core, pinned in package-lock.json (it
#      never downloads a browser: Chromium is /usr/bin/chromium, or $CHROMIUM);
#   2. pkg-browser.test.mjs: the repository root served on 127.0.0.1 by
#      server.mjs, index.html + page.js importing /pkg/src/index.js.
# Needs pkg/wasm/ (bash tests/build-pkg.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -f $here/../../pkg/wasm/fedwasm_bg.wasm ]]; then
  echo "no pkg/wasm/fedwasm_bg.wasm: run bash tests/build-pkg.sh first" >&2
  exit 1
fi
cd "$here"
npm ci --no-audit --no-fund --prefer-offline
node --test pkg-browser.test.mjs
