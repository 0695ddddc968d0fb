// The Vite consumer's built page (dist/, from `vite build` over the packed
// fedwasm tarball) in headless Chromium: it must find the wasm asset and the
// pool's worker that Vite emitted, run FedAvg rounds in a WorkerPool of 2
// with finite, improving metrics, and end in the same state bytes as the
// package in Node.js; the same page under the Vite dev server too. Run
// through run.sh (it installs the tarball and builds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serve } from '../pkg-browser/server.mjs';
import { launch, openPage } from '../pkg-browser/chromium.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = `${here}dist`;

let server;
let browser;
let page;
let problems;
let result;

before(async () => {
  assert.ok(existsSync(`${dist}/index.html`), 'no dist/: run tests/vite-consumer/run.sh (it builds)');
  server = await serve(dist);
  browser = await launch();
  ({ page, problems } = await openPage(browser, `${server.url}/`));
  // Nothing but the local server: no CDN, no telemetry.
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith('data:')) problems.push(`request outside the server: ${r.url()}`);
  });
  await page.waitForFunction(() => document.documentElement.dataset.done !== undefined, null, { timeout: 180_000 });
  result = await page.evaluate(() => window.result);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('fedwasm came from the packed tarball, not a link to pkg/', () => {
  const dir = `${here}node_modules/fedwasm`;
  assert.ok(!lstatSync(dir).isSymbolicLink(), 'node_modules/fedwasm is a symlink');
  const lock = JSON.parse(readFileSync(`${here}node_modules/.package-lock.json`, 'utf8'));
  const entry = lock.packages['node_modules/fedwasm'];
  assert.match(entry?.resolved ?? '', /fedwasm-0\.1\.0\.tgz$/, `node_modules/fedwasm resolved from ${entry?.resolved}`);
});

test('vite build emitted the engine (.wasm) and the pool worker as assets', () => {
  const assets = readdirSync(`${dist}/assets`);
  assert.ok(assets.some((f) => /^fedwasm_bg-.*\.wasm$/.test(f)), `no wasm in ${assets}`);
  assert.ok(assets.some((f) => /^worker-.*\.js$/.test(f)), `no worker in ${assets}`);
});

test('the built page runs 3 FedAvg rounds in a WorkerPool of 2: finite metrics, falling loss', () => {
  assert.ok(!result.error, `the page failed: ${result.error}`);
  const { rounds } = result;
  assert.equal(rounds.length, 3);
  for (const r of rounds) {
    assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.accuracy) && r.examples > 0, JSON.stringify(r));
    assert.equal(r.backend, 'cpu');
  }
  assert.ok(rounds[2].loss < rounds[0].loss, `loss ${rounds.map((r) => r.loss)}`);
  assert.ok(rounds[2].accuracy > rounds[0].accuracy, `accuracy ${rounds.map((r) => r.accuracy)}`);
  console.log(`# rounds: ${rounds.map((r) => `loss ${r.loss.toFixed(4)} acc ${r.accuracy.toFixed(4)} (${r.ms.toFixed(0)} ms)`).join('; ')}`);
});

test('the page fetched the wasm and started the pool\'s workers from the emitted assets', () => {
  const paths = server.requests.filter(([s]) => s === 200).map(([, p]) => p);
  assert.ok(paths.some((p) => /\/assets\/fedwasm_bg-.*\.wasm$/.test(p)), `requests: ${paths}`);
  const workers = paths.filter((p) => /\/assets\/worker-.*\.js$/.test(p));
  assert.ok(workers.length >= 1, `no worker script requested: ${paths}`);
});

test('the same state bytes as the package in Node.js', async () => {
  const { ready, ClientData, models, optimizers, algorithms, sampleClients } = await import(`${here}node_modules/fedwasm/src/node.js`);
  await ready();
  const train = await ClientData.femnistDigits();
  const process = algorithms.buildWeightedFedAvg({
    model: models.softmaxRegression(),
    clientOptimizer: optimizers.sgd({ learningRate: 0.02 }),
    backend: 'cpu',
  });
  let state = await process.initialize();
  for (let round = 0; round < 3; round++) {
    const ids = sampleClients(train.clientIds, 8, { seed: 0, round });
    state = (await process.next(state, ids.map((id) => train.createDataset(id).repeat(5).shuffle(100, { seed: 1 }).batch(20)))).state;
    assert.equal(result.rounds[round].digest, createHash('sha256').update(state.toBytes()).digest('hex'), `round ${round + 1}`);
  }
});

test('the Vite dev server (dependency pre-bundling) runs the same page to the same states', async () => {
  const { createServer } = await import('vite');
  const dev = await createServer({ root: here, logLevel: 'error', server: { host: '127.0.0.1', port: 0 } });
  await dev.listen();
  try {
    const url = dev.resolvedUrls.local[0];
    const { page: devPage, problems: devProblems } = await openPage(browser, url);
    await devPage.waitForFunction(() => document.documentElement.dataset.done !== undefined, null, { timeout: 180_000 });
    const got = await devPage.evaluate(() => window.result);
    assert.ok(!got.error, `the dev page failed: ${got.error}`);
    assert.deepEqual(got.rounds.map((r) => r.digest), result.rounds.map((r) => r.digest));
    assert.deepEqual(devProblems, []);
    await devPage.close();
  } finally {
    await dev.close();
  }
});

test('no console errors, uncaught exceptions, failed requests or HTTP errors', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(server.requests.filter(([s]) => s >= 400), []);
});
