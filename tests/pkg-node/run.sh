#!/usr/bin/env bash
# The npm package as users get it: packs pkg/ (npm pack), installs the
# tarball into a fresh temporary project, and there
#   1. runs every tests/pkg-node/*.test.mjs with `node --test` (they import
#      'fedwasm', so they see exactly what the tarball holds: a missing
#      `files` entry fails them), and
#   2. type-checks tests/pkg-node/consumer.ts, a strict TypeScript consumer
#      of the whole API, and consumer-aggregator.ts ('fedwasm/aggregator'),
#      against the tarball's .d.ts.
# Needs pkg/wasm/ and pkg/wasm-aggregator/ (bash tests/build-pkg.sh).
# Environment passed to the tests:
#   FEDWASM_REPO    the repository root (fixtures under ../shared, README)
#   FEDWASM_CLI     the native CLI (target/release/fedwasm, built here)
# Usage: bash tests/pkg-node/run.sh [node --test args, e.g. a file name]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [[ ! -f $repo/pkg/wasm/fedwasm_bg.wasm || ! -f $repo/pkg/wasm-aggregator/fedwasm_aggregator_bg.wasm ]]; then
  echo "pkg/wasm/ or pkg/wasm-aggregator/ is missing: run bash tests/build-pkg.sh first" >&2
  exit 1
fi
# The TypeScript compiler (pinned in tests/pkg-node/package-lock.json).
if [[ ! -x $here/node_modules/.bin/tsc ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

# The native CLI, for cli_parity.test.mjs (a no-op when it is up to date).
(cd "$repo" && cargo build --release -q -p fedwasm-cli)

work=$(mktemp -d "${TMPDIR:-/tmp}/fedwasm-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$repo/pkg" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball=$(ls "$work"/fedwasm-*.tgz)
echo "packed: $(basename "$tarball") ($(stat -c %s "$tarball") bytes)"
mkdir "$work/consumer"
cd "$work/consumer"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' > package.json
# A local tarball without dependencies: nothing is fetched.
npm install --no-audit --no-fund --offline --silent "$tarball"
cp "$here"/*.mjs "$here"/*.ts "$here"/tsconfig.json .
ln -s "$here/node_modules/@types" node_modules/@types

echo "type-checking consumer.ts (tsc --strict) against the tarball's .d.ts"
"$here/node_modules/.bin/tsc" -p tsconfig.json

export FEDWASM_REPO=$repo
export FEDWASM_CLI=$repo/target/release/fedwasm
if [[ $# -gt 0 ]]; then
  node --test "$@"
else
  node --test ./*.test.mjs
fi
