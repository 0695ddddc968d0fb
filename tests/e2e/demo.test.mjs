// End-to-end test of the demo page (www/) in headless Chromium: serves the
// project, drives the page as a user would (keyboard, buttons) and checks
// the figures it shows. Needs playwright-core from www/package.json
// (`npm ci --prefix www`; it never downloads a browser) and /usr/bin/chromium.
//
//   node --test tests/e2e/
//
// Screenshots go to target/test-artifacts/ (their paths are printed).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../www/serve.mjs';
import { launch, openDemo } from '../../www/headless.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ARTIFACTS = resolve(ROOT, 'target/test-artifacts');

let server;
let browser;

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startServer({ port: 0 });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function screenshot(page, name) {
  const path = resolve(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

/** Waits until the page's run has ended; returns its state. */
async function runEnd(page, timeout = 120_000) {
  await page.waitForFunction(() => ['done', 'stopped', 'error'].includes(window.fedwasmDemo.state), null, { timeout });
  return page.evaluate(() => window.fedwasmDemo.state);
}

test('FEMNIST FedAvg, 3 rounds of 8 clients, started from the keyboard: accuracy rises', async () => {
  const { page, context, problems } = await openDemo(browser, server.url, { query: { task: 'femnist-fedavg', rounds: 3, perRound: 8 } });
  try {
    // The run button is reachable with Tab alone, and Enter starts the run.
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.id === 'run');
    }
    assert.ok(reached, 'the Run button is not reachable with Tab');
    await page.keyboard.press('Enter');
    assert.equal(await runEnd(page), 'done', `errors on the page: ${await page.evaluate(() => window.fedwasmDemo.errors.join('; '))}`);

    const h = await page.evaluate(() => window.fedwasmDemo.history);
    assert.deepEqual(h.map((r) => r.round), [0, 1, 2, 3]);
    assert.equal(h[0].train, null, 'round 0 evaluates the initial model only');
    for (const r of h.slice(1)) {
      assert.equal(r.clients, 8);
      assert.ok(r.train.examples > 0 && Number.isFinite(r.train.loss), JSON.stringify(r.train));
    }
    for (const r of h) assert.equal(r.eval.examples, 1075, 'FedEval covers the whole test split of the 100 writers');
    // The initial softmax regression predicts uniformly: loss ln 10.
    assert.ok(Math.abs(h[0].eval.loss - Math.log(10)) < 1e-3, `initial eval loss ${h[0].eval.loss}`);
    const acc = h.map((r) => r.eval.accuracy);
    assert.ok(acc[3] > acc[0] + 0.05, `eval accuracy per round ${acc}`);
    assert.ok(h[3].train.accuracy > h[1].train.accuracy, `train accuracy ${h.map((r) => r.train?.accuracy)}`);

    // What the page shows: the charts' text alternatives, the table, the badge.
    const label = await page.locator('#quality-chart').getAttribute('aria-label');
    assert.match(label, new RegExp(`evaluation ${acc[3].toFixed(4)} at round 3`));
    assert.equal(await page.locator('#metrics-table tbody tr').count(), 4);
    assert.match(await page.locator('#backend-badge').textContent(), /^Ran on (CPU|WebGPU): \S/);
    assert.ok((await page.locator('#client-pick option').count()) === 100);

    // Export: the CSV download has a header and one row per round.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export-csv').click()]);
    assert.match(download.suggestedFilename(), /\.csv$/);
    const csv = (await readFile(await download.path(), 'utf8')).trim().split('\n');
    assert.equal(csv.length, 5);
    assert.match(csv[0], /^round,seconds,clients,train_examples,train_loss,train_accuracy/);
    const json = JSON.parse(await page.evaluate(() => window.fedwasmDemo.toJSON()));
    assert.equal(json.history.length, 4);
    assert.equal(json.params.perRound, 8);

    await screenshot(page, 'demo-femnist-fedavg.png');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('Federated Reconstruction on synthetic ratings (this thread, no workers): held-out loss and RMSE fall', async () => {
  const { page, context, problems } = await openDemo(browser, server.url, { query: { task: 'ratings-fedrecon', rounds: 6, workers: 0 } });
  try {
    assert.equal(await page.locator('#digits').isVisible(), false, 'no digits for ratings');
    await page.locator('#run').click();
    assert.equal(await runEnd(page), 'done', `errors on the page: ${await page.evaluate(() => window.fedwasmDemo.errors.join('; '))}`);
    const h = await page.evaluate(() => window.fedwasmDemo.history);
    assert.equal(h.length, 7);
    const first = h[0].eval;
    const last = h[6].eval;
    assert.ok(last.loss < 0.3 * first.loss, `eval loss ${h.map((r) => r.eval.loss)}`);
    assert.ok(last.rmse < 1.2, `eval RMSE ${h.map((r) => r.eval.rmse)}`);
    assert.ok(h[6].train.loss < h[1].train.loss, `train loss ${h.map((r) => r.train?.loss)}`);
    assert.equal(await page.locator('#quality-title').textContent(), 'RMSE');
    await screenshot(page, 'demo-ratings-fedrecon.png');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('pause holds the run between rounds; stop ends it', async () => {
  const { page, context, problems } = await openDemo(browser, server.url, { query: { rounds: 200, perRound: 2, epochs: 1 } });
  try {
    await page.locator('#run').click();
    await page.waitForFunction(() => window.fedwasmDemo.history.length >= 2);
    await page.locator('#pause').click();
    await page.waitForFunction(() => window.fedwasmDemo.state === 'paused');
    assert.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'true');
    const held = (await page.evaluate(() => window.fedwasmDemo.history)).length;
    await page.waitForTimeout(600);
    assert.equal((await page.evaluate(() => window.fedwasmDemo.history)).length, held, 'rounds ran while paused');
    await page.locator('#pause').click(); // resume
    await page.waitForFunction((n) => window.fedwasmDemo.history.length > n, held);
    await page.locator('#stop').click();
    assert.equal(await runEnd(page), 'stopped');
    const n = (await page.evaluate(() => window.fedwasmDemo.history)).length;
    assert.ok(n > held && n < 201, `${n} records`);
    assert.equal(await page.locator('#run').isEnabled(), true);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('readable at 375 px: no horizontal scrolling, every control labelled', async () => {
  const { page, context, problems } = await openDemo(browser, server.url, { viewport: { width: 375, height: 800 } });
  try {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width} px wide at 375 px`);
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button, progress')]
        .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim())))
        .map((el) => el.id || el.outerHTML),
    );
    assert.deepEqual(unlabelled, []);
    await screenshot(page, 'demo-375px.png');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('a MovieLens file picked on the page trains with Federated Reconstruction', async () => {
  // u.data's format (user, item, rating, time; tab-separated) for 40 users
  // whose ratings follow one of two tastes.
  const lines = [];
  for (let u = 1; u <= 40; u++) {
    for (let i = 1; i <= 20; i++) lines.push([u, i, ((u % 2 === 0) === (i % 2 === 0) ? 5 : 1), 874965758 + i].join('\t'));
  }
  const { page, context, problems } = await openDemo(browser, server.url, { query: { task: 'ratings-fedrecon', source: 'movielens', rounds: 4, clients: 40, perRound: 8 } });
  try {
    assert.equal(await page.locator('#ratings-file').isVisible(), true);
    await page.locator('#ratings-file').setInputFiles({ name: 'u.data', mimeType: 'text/plain', buffer: Buffer.from(`${lines.join('\n')}\n`) });
    await page.waitForFunction(() => document.getElementById('data-badge').textContent.includes('MovieLens u.data'));
    assert.match(await page.locator('#data-badge').textContent(), /32 training users, 8 held out/);
    await page.locator('#run').click();
    assert.equal(await runEnd(page), 'done', `errors on the page: ${await page.evaluate(() => window.fedwasmDemo.errors.join('; '))}`);
    const h = await page.evaluate(() => window.fedwasmDemo.history);
    assert.equal(h.length, 5);
    assert.ok(h[4].train.examples > 0);
    assert.ok(h[4].eval.loss < 0.9 * h[0].eval.loss, `eval loss ${h.map((r) => r.eval.loss)}`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the WebGPU backend (SwiftShader in headless Chromium) gives the CPU backend\'s figures', async () => {
  const query = { rounds: 1, perRound: 3, epochs: 1 };
  const runWith = async (backend) => {
    const { page, context, problems } = await openDemo(browser, server.url, { query: { ...query, backend } });
    try {
      const result = await page.evaluate(() => window.fedwasmDemo.run());
      assert.equal(result.state, 'done', `${backend}: ${await page.evaluate(() => window.fedwasmDemo.errors.join('; '))}`);
      assert.deepEqual(problems, []);
      return { history: result.history, badge: await page.locator('#backend-badge').textContent() };
    } finally {
      await context.close();
    }
  };
  const cpu = await runWith('cpu');
  const gpu = await runWith('webgpu');
  assert.match(cpu.badge, /^Ran on CPU: /);
  assert.match(gpu.badge, /^Ran on WebGPU: /);
  assert.equal(gpu.history[1].backend.kind, 'webgpu');
  for (const key of ['loss', 'accuracy']) {
    for (const part of ['train', 'eval']) {
      const a = cpu.history[1][part][key];
      const b = gpu.history[1][part][key];
      assert.ok(Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(a)), `${part} ${key}: cpu ${a}, webgpu ${b}`);
    }
  }
});
