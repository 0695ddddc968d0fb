// Native vs wasm32: the deterministic reference run (fedwasm::reference) must
// agree within 1e-5 relative between the native CLI and the wasm32 build
// running in Node.js. Losses and metrics are compared one by one; each weight
// tensor by the relative norm of the difference, ||w_native - w_wasm|| / ||w_native||.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const root = new URL('../../', import.meta.url);
const require = createRequire(import.meta.url);
const fedwasm = require(new URL('target/pkg-node/fedwasm.js', root).pathname);

const TOL = 1e-5;

function nativeRun(seed) {
  const out = execFileSync(
    'cargo',
    ['run', '-q', '-p', 'fedwasm-cli', '--bin', 'fedwasm', '--', 'reference-run', '--seed', String(seed)],
    { cwd: root.pathname, encoding: 'utf8' },
  );
  return JSON.parse(out);
}

function relErr(a, b) {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

function normRelErr(a, b) {
  assert.equal(a.length, b.length);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += a[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
}

test('reference run: native and wasm32 agree within 1e-5 relative', async () => {
  const native = nativeRun(1);
  const wasm = JSON.parse(await fedwasm.referenceRun(1));
  let worst = 0;
  for (const key of ['classifier_losses', 'mf_losses']) {
    assert.equal(native[key].length, wasm[key].length, key);
    native[key].forEach((v, i) => {
      const e = relErr(v, wasm[key][i]);
      worst = Math.max(worst, e);
      assert.ok(e <= TOL, `${key}[${i}]: native ${v} wasm ${wasm[key][i]} (rel ${e})`);
    });
  }
  for (const [name, v] of Object.entries(native.classifier_eval)) {
    const e = relErr(v, wasm.classifier_eval[name]);
    worst = Math.max(worst, e);
    assert.ok(e <= TOL, `eval ${name}: native ${v} wasm ${wasm.classifier_eval[name]}`);
  }
  for (const key of ['classifier_weights', 'mf_weights']) {
    assert.deepEqual(Object.keys(native[key]).sort(), Object.keys(wasm[key]).sort());
    for (const [name, w] of Object.entries(native[key])) {
      const e = normRelErr(w, wasm[key][name]);
      worst = Math.max(worst, e);
      assert.ok(e <= TOL, `${key} ${name}: relative difference ${e}`);
    }
  }
  console.log(`native vs wasm32: worst relative difference ${worst.toExponential(2)}`);
});

test('the wasm build reports its backend; forcing WebGPU without an adapter is an error', async () => {
  // Node has no navigator.gpu: auto falls back to the CPU...
  const info = JSON.parse(await fedwasm.backendInfo());
  assert.equal(info.kind, 'cpu');
  assert.equal(JSON.parse(await fedwasm.backendInfo('cpu')).kind, 'cpu');
  // ...but asking for WebGPU fails rather than silently running on the CPU.
  await assert.rejects(fedwasm.backendInfo('webgpu'), (e) => {
    assert.match(e.message, /webgpu/);
    assert.equal(e.name, 'FedwasmError');
    assert.equal(e.code, 'backend_unavailable');
    return true;
  });
  await assert.rejects(fedwasm.backendInfo('cuda'), (e) => {
    assert.match(e.message, /unknown backend/);
    assert.equal(e.code, 'invalid_argument');
    assert.ok(e instanceof Error);
    return true;
  });
});
