// The npm package (pkg/) in headless Chromium, imported by a plain
// <script type="module"> (index.html + page.js; no bundler): backend choice,
// FedAvg rounds bit-identical for any WorkerPool size and equal to Node.js,
// a worker killed mid-client, cancellation, WebGPU in workers, and a page
// thread that never trains while a pool does.
//
//   bash tests/build-pkg.sh                  # pkg/wasm/ (once; ~2.5 min)
//   bash tests/pkg-browser/run.sh            # npm ci (playwright-core, pinned; never downloads a browser), then this file
//
// The repository root is served over http on 127.0.0.1 by server.mjs (the
// page needs http: navigator.gpu and module workers do not exist on file://).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serve } from './server.mjs';
import { launch, openPage } from './chromium.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const wasm = new URL('../../pkg/wasm/fedwasm_bg.wasm', import.meta.url);

let server;
let browser;
let page;
let problems;

before(async () => {
  assert.ok(existsSync(wasm), `no ${fileURLToPath(wasm)}: run bash tests/build-pkg.sh first`);
  server = await serve(root);
  browser = await launch();
  // The crash drill's uncaught error is expected (and is reported, if at all, as that).
  ({ page, problems } = await openPage(browser, `${server.url}/tests/pkg-browser/`, { allow: [/crash drill/] }));
  await page.waitForFunction(() => document.documentElement.dataset.ready === '1', null, { timeout: 120_000 });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const call = (name, arg) => page.evaluate(([n, a]) => window.fw[n](a), [name, arg ?? {}]);

/** The same rounds in Node.js (the package's `node` entry), as digests. */
async function nodeDigests(rounds, repeat) {
  const { ready, ClientData, models, optimizers, algorithms, sampleClients } = await import('../../pkg/src/node.js');
  await ready();
  const train = await ClientData.femnistDigits();
  const process = algorithms.buildWeightedFedAvg({
    model: models.softmaxRegression(),
    clientOptimizer: optimizers.sgd({ learningRate: 0.02 }),
    backend: 'cpu',
  });
  let state = await process.initialize();
  const out = [];
  for (let r = 0; r < rounds; r++) {
    const ids = sampleClients(train.clientIds, 8, { seed: 0, round: r });
    const ds = ids.map((id) => train.createDataset(id).repeat(repeat).shuffle(100, { seed: 1 }).batch(20));
    state = (await process.next(state, ds)).state;
    out.push(createHash('sha256').update(state.toBytes()).digest('hex'));
  }
  return out;
}

let reference; // the pool-less run: { rounds: [{ digest, loss, ... }] }

test('backendInfo: webgpu is Chromium\'s SwiftShader adapter (software); auto passes it over for the CPU', async () => {
  assert.equal(await page.evaluate(() => window.fw.hasGpu()), true, 'navigator.gpu is missing');
  const gpu = await call('backendInfo', 'webgpu');
  assert.equal(gpu.kind, 'webgpu');
  assert.match(gpu.adapter, /swiftshader/i);
  assert.equal(gpu.software, true);
  const auto = await call('backendInfo', 'auto');
  assert.equal(auto.kind, 'cpu', `auto chose ${JSON.stringify(auto)}`);
  assert.equal((await call('backendInfo', 'cpu')).kind, 'cpu');
});

test('FedAvg: the same state bytes with no pool and with WorkerPools of 1, 2 and 4, and as in Node.js', async () => {
  reference = await call('rounds', { poolSize: 0 });
  const want = reference.rounds.map((r) => r.digest);
  assert.equal(want.length, 2);
  assert.notEqual(want[0], want[1]);
  for (const r of reference.rounds) {
    assert.ok(r.finite && r.examples > 0, JSON.stringify(r));
    assert.equal(r.backend.kind, 'cpu');
  }
  assert.ok(reference.rounds[1].loss < reference.rounds[0].loss, 'the loss did not fall between rounds');
  const timings = [`no pool: ${reference.rounds.map((r) => r.ms.toFixed(0)).join('+')} ms`];
  for (const size of [1, 2, 4]) {
    const got = await call('rounds', { poolSize: size });
    assert.deepEqual(got.rounds.map((r) => r.digest), want, `pool of ${size} differs from no pool`);
    assert.equal(got.replacedWorkers, 0);
    timings.push(`pool ${size}: ${got.rounds.map((r) => r.ms.toFixed(0)).join('+')} ms`);
  }
  assert.deepEqual(await nodeDigests(2, 5), want, 'Chromium and Node.js differ');
  console.log(`# rounds (2 rounds, 8 clients): ${timings.join(', ')}`);
});

test('a worker killed mid-client is replaced, its client rerun, and the round equals the fault-free one', async () => {
  const got = await call('crash', {});
  assert.equal(got.replacedWorkers, 1, 'the crashed worker was not replaced');
  assert.equal(got.rerun, true, 'client 0 was not rerun from the start (the worker died after it finished?)');
  assert.ok(got.finite);
  assert.equal(got.digest, reference.rounds[0].digest, 'the round after a crash differs from the fault-free round');
});

for (const poolSize of [0, 2]) {
  test(`an AbortSignal aborted mid-round rejects with code 'cancelled'; the state still runs a round (${poolSize ? `pool of ${poolSize}` : 'no pool'})`, async () => {
    const got = await call('abort', { poolSize });
    assert.equal(got.aborted, true, 'the round ended before it could be aborted');
    assert.ok(got.error, 'the aborted round resolved');
    assert.equal(got.error.isFedwasmError, true, JSON.stringify(got.error));
    assert.equal(got.error.code, 'cancelled', JSON.stringify(got.error));
    assert.ok(got.rejectedMs < 5_000, `rejected ${got.rejectedMs} ms after abort()`);
    assert.equal(got.round, 1);
    assert.equal(got.digest, reference.rounds[0].digest, 'the round after the aborted one differs from the fault-free round');
  });
}

test('backend webgpu in a WorkerPool of 2 trains on WebGPU (close to the CPU); auto in a worker gives the CPU', async () => {
  const got = await call('rounds', { poolSize: 2, backend: 'webgpu', rounds: 1 });
  const [r] = got.rounds;
  assert.equal(r.backend?.kind, 'webgpu', `ran on ${JSON.stringify(r.backend)}`);
  assert.match(r.backend.adapter, /swiftshader/i);
  assert.ok(r.finite);
  assert.equal(r.examples, reference.rounds[0].examples);
  // Same algorithm, other float rounding: the weights agree closely.
  const cpu = await call('rounds', { poolSize: 0, rounds: 1 });
  let maxDiff = 0;
  got.weights.forEach((w, i) => w.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - cpu.weights[i][j])))));
  assert.ok(maxDiff < 1e-4, `WebGPU weights differ from the CPU's by ${maxDiff}`);
  console.log(`# webgpu round in a pool of 2: ${r.ms.toFixed(0)} ms, max |w_gpu - w_cpu| = ${maxDiff.toExponential(2)}`);
  const auto = await call('rounds', { poolSize: 1, backend: 'auto', rounds: 1 });
  assert.equal(auto.rounds[0].backend.kind, 'cpu', `auto in a worker chose ${JSON.stringify(auto.rounds[0].backend)}`);
  assert.equal(auto.rounds[0].digest, reference.rounds[0].digest);
});

// Main-thread CPU profile (Chrome DevTools Protocol) of one call: milliseconds
// sampled inside training code (the engine's training loop, layers, CPU
// kernels and optimizers; names from the wasm's name section).
const TRAINING = /fedwasm::(train|layers|backend|optim)::|matrixmultiply|gemm/;
async function profiled(fn) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
  await cdp.send('Profiler.start');
  const result = await fn();
  const { profile } = await cdp.send('Profiler.stop');
  await cdp.detach();
  const parent = new Map();
  const byId = new Map();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const trains = new Map();
  const isTraining = (id) => {
    if (trains.has(id)) return trains.get(id);
    const n = byId.get(id);
    const v = TRAINING.test(n.callFrame.functionName) || (parent.has(id) && isTraining(parent.get(id)));
    trains.set(id, v);
    return v;
  };
  let trainingMs = 0;
  let wasmMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    if (isTraining(id)) trainingMs += ms;
    if (/\.wasm$/.test(byId.get(id).callFrame.url)) wasmMs += ms;
  });
  return { result, trainingMs, wasmMs };
}

test('with a WorkerPool the page thread never trains and stays responsive (control: the same round on the page thread)', async () => {
  const inline = await profiled(() => call('responsiveness', { poolSize: 0, repeat: 40 }));
  const pooled = await profiled(() => call('responsiveness', { poolSize: 2, repeat: 40 }));
  const line = (what, p) =>
    `${what}: round ${p.result.ms.toFixed(0)} ms, page thread ${p.trainingMs.toFixed(1)} ms training / ${p.wasmMs.toFixed(1)} ms in wasm, ${p.result.ticks} ticks, longest gap ${p.result.maxGap.toFixed(0)} ms, ${p.result.longTasks} long tasks (longest ${p.result.longestTask.toFixed(0)} ms)`;
  console.log(`# ${line('no pool', inline)}`);
  console.log(`# ${line('pool of 2', pooled)}`);
  assert.ok(inline.result.finite && pooled.result.finite);
  // The control shows the profile sees training on the page thread...
  assert.ok(inline.trainingMs > 20, `the profiler saw no training in the no-pool round (${inline.trainingMs} ms): the check is blind`);
  // ...and with a pool there is none (the page only writes tasks and aggregates).
  assert.ok(pooled.trainingMs < 2, `the page thread trained for ${pooled.trainingMs} ms with a pool`);
  // Responsive: timers keep firing and no task of the page thread is long
  // (the Long Tasks API; the timer's gaps also include time the OS gave the
  // thread no core, so they only get a loose bound on a loaded machine).
  assert.ok(pooled.result.ticks > 0, 'no timer tick ran during the pooled round');
  assert.ok(pooled.result.longestTask < 200, `a page-thread task took ${pooled.result.longestTask} ms during the pooled round`);
  assert.ok(pooled.result.maxGap < 1000, `the page thread's timer stalled for ${pooled.result.maxGap} ms during the pooled round`);
});

test('ClientData.fromImages: labels from file names, clients by a function, ink 1 on background 0, a broken image refused', async () => {
  const r = await call('images');
  assert.deepEqual(r.ids, ['even', 'odd']);
  assert.deepEqual(r.spec, { xShape: [784], label: { classes: 10 } });
  assert.deepEqual(r.counts, [3, 3]);
  assert.deepEqual(r.labels, [1, 0, 0, 1, 0, 0, 0, 1, 0, 0]);
  assert.ok(r.min < 0.05 && r.max > 0.95, `pixels span 0..1: ${r.min}..${r.max}`);
  assert.ok(r.mean > 0.05 && r.mean < 0.4, `mostly background (0), some ink (1): mean ${r.mean}`);
  assert.equal(r.refused?.name, 'FedwasmError');
  assert.equal(r.refused?.code, 'bad_data');
});

test('no console errors, uncaught exceptions, failed requests or HTTP errors', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(server.requests.filter(([s]) => s >= 400), []);
});
