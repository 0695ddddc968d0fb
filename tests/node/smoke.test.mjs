// Smoke test of the Node.js package built by tests/build-node-pkg.sh.
// Run with: bash tests/build-node-pkg.sh && node --test tests/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('../../', import.meta.url);
// wasm-bindgen --target nodejs emits CommonJS, so load it with require().
const require = createRequire(import.meta.url);
const fedwasm = require(new URL('target/pkg-node/fedwasm.js', root).pathname);

test('version() is the crate version from crate/fedwasm/Cargo.toml', () => {
  const manifest = readFileSync(new URL('crate/fedwasm/Cargo.toml', root), 'utf8');
  const crateVersion = manifest.match(/^version\s*=\s*"([^"]+)"/m)[1];
  assert.equal(fedwasm.version(), crateVersion);
});
