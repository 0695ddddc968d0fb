// End-to-end: real browser tabs join a real coordinator. Serves www/
// (www/serve.mjs), runs `fedwasm serve` as its own process, opens one
// headless Chromium with a tab per token on www/client.html (each loads one
// FEMNIST writer of www/data/ and joins), and a tab on www/status.html.
// Needs pkg/wasm/ (bash tests/build-pkg.sh), the aggregator
// (bash tests/build-aggregator.sh), `npm ci` in pkg/ (ws) and in www/ or
// tests/pkg-browser/ (playwright-core), and /usr/bin/chromium.
//
//   node --test tests/e2e/client-page.test.mjs
//
// Screenshots go to target/test-artifacts/ (their paths are printed).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../www/serve.mjs';
import { femnist, serveProcess, tempDir, tokens, until, w1Task, writeTask } from '../coordinator/lib.mjs';
import { clientPageUrl, launchChromium, openClientTabs, openTab } from '../coordinator/tabs.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ARTIFACTS = resolve(ROOT, 'target/test-artifacts');

let server;
let coordinator;
let dir;
let writers;
const TOKENS = tokens(3, 'tab');

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startServer({ port: 0 });
  ({ ids: writers } = await femnist(2));
  dir = await tempDir('fedwasm-tabs-');
  // Two rounds of both tabs (the third token is for the tests that join with data that does not fit).
  const task = w1Task({ rounds: 2, clientsPerRound: 2, overSelection: 1, minReports: 2, reportDeadlineSeconds: 60, selectionTimeoutSeconds: 30, tokens: TOKENS });
  coordinator = await serveProcess(['--task', await writeTask(dir, task), '--state-dir', join(dir, 'state')]);
});

after(async () => {
  coordinator?.kill();
  await coordinator?.exited;
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function screenshot(page, name) {
  const path = resolve(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

test('two tabs train both rounds; the status page shows round 2 of 2 and its charts', async () => {
  const tabs = await openClientTabs({ wwwUrl: server.url, coordinatorUrl: coordinator.url, tokens: TOKENS.slice(0, 2), writers, backend: 'cpu' });
  let status;
  try {
    status = await openTab(tabs.browser, `${server.url}status.html?status=${encodeURIComponent(coordinator.statusUrl)}`);
    await until(async () => (await coordinator.status()).phase === 'done', { timeoutMs: 120_000, everyMs: 250, what: `the coordinator to finish:\n${coordinator.output}` });
    for (const page of tabs.pages) await page.waitForFunction(() => window.fedwasmClient.state() === 'done', null, { timeout: 20_000 });

    const states = await tabs.states();
    states.forEach((s, i) => {
      assert.equal(s.reports, 2, `tab ${i} (writer ${writers[i]}): ${s.reports} reports accepted; events ${JSON.stringify(s.events.map((e) => e.type))}`);
      assert.equal(s.trained, 2);
      const types = s.events.map((e) => e.type);
      for (const t of ['connect', 'welcome', 'roundstart', 'progress', 'report', 'accepted', 'done']) assert.ok(types.includes(t), `tab ${i} had no ${t} event: ${types}`);
      assert.deepEqual(s.events.filter((e) => e.type === 'accepted').map((e) => e.round), [1, 2]);
      for (const e of s.events.filter((x) => x.type === 'report')) assert.equal(e.backend.kind, 'cpu');
      assert.ok(!types.includes('error'), `tab ${i} errors: ${JSON.stringify(s.events.filter((e) => e.type === 'error'))}`);
      assert.deepEqual(s.problems, [], `tab ${i}`);
    });
    // What each tab shows.
    for (const page of tabs.pages) {
      assert.equal(await page.locator('#s-accepted').textContent(), '2');
      assert.equal(await page.locator('#s-trained').textContent(), '2');
      assert.match(await page.locator('#s-backend').textContent(), /^CPU/);
      assert.match(await page.locator('#s-model').textContent(), /^softmax_regression: 784 inputs/);
      assert.match(await page.locator('#s-local').textContent(), /keeps no local variables/);
      assert.equal(await page.evaluate(() => window.fedwasmClient.localStateBytes()), 0, 'FedAvg keeps no local variables');
      assert.ok((await page.locator('#log li').count()) >= 8);
      assert.equal(await page.locator('#error').isHidden(), true);
    }
    const final = await coordinator.status();
    assert.equal(final.round, 2);
    assert.deepEqual(final.history.map((h) => h.reported), [2, 2]);

    // The status page: round 2 of 2, and the charts hold both rounds.
    const sp = status.page;
    // (The coordinator counts the round complete a moment before its phase is 'done': wait for both.)
    await sp.waitForFunction(() => document.getElementById('round').textContent.startsWith('round 2 of 2 complete')
      && document.getElementById('phase').textContent.startsWith('done'), null, { timeout: 10_000 });
    assert.equal(await sp.locator('#current-none').textContent(), 'Every round is complete.');
    await sp.waitForFunction(() => /at round 2$/.test(document.getElementById('loss-chart').getAttribute('aria-label')));
    const loss = final.history[1].metrics.client_work.train.loss;
    assert.match(await sp.locator('#loss-chart').getAttribute('aria-label'), new RegExp(`loss ${loss.toFixed(4)} at round 2`));
    assert.match(await sp.locator('#quality-chart').getAttribute('aria-label'), /accuracy 0\.\d{4} at round 2/);
    assert.equal(await sp.locator('#rounds-table tbody tr').count(), 2);
    // The chart is drawn: the loss line's colour is on the canvas.
    const inked = await sp.evaluate(() => {
      const c = document.getElementById('loss-chart');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > 150 && d[i] < 80) n += 1;
      return n;
    });
    assert.ok(inked > 20, `${inked} pixels of the loss line`);
    assert.deepEqual(status.problems, []);
    await screenshot(sp, 'status-done.png');
    await screenshot(tabs.pages[0], 'client-done.png');
  } finally {
    await tabs.close();
  }
});

test('a wrong token is refused with a visible error, and the tab does not retry', async () => {
  const browser = await launchChromium();
  try {
    const url = clientPageUrl(server.url, { coordinatorUrl: coordinator.url, token: 'not-a-token-of-this-task', writer: writers[0] });
    const { page, problems } = await openTab(browser, url);
    await page.waitForFunction(() => window.fedwasmClient?.state() === 'error', null, { timeout: 20_000 });
    const alert = page.getByRole('alert');
    assert.equal(await alert.isVisible(), true);
    assert.match(await alert.textContent(), /does not know this token \(unknown_token\)/);
    assert.match(await page.locator('#log li.error').first().textContent(), /unknown_token/);
    assert.equal(await page.locator('#join-button').isEnabled(), true, 'Join is offered again');
    await page.waitForTimeout(1500);
    const events = await page.evaluate(() => window.fedwasmClient.events);
    assert.equal(events.filter((e) => e.type === 'connect').length, 1, `reconnected after a fatal refusal: ${JSON.stringify(events)}`);
    assert.equal(events.find((e) => e.type === 'error').error.reason, 'unknown_token');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('ratings picked for a digit classifier are refused with the model named; the page works at 375 px', async () => {
  const browser = await launchChromium();
  try {
    const url = clientPageUrl(server.url, { coordinatorUrl: coordinator.url, token: TOKENS[2], autojoin: false });
    const { page, problems } = await openTab(browser, url, { viewport: { width: 375, height: 800 } });
    await page.locator('#kind').selectOption('ratings');
    const csv = ['user,item,rating', ...Array.from({ length: 12 }, (_, i) => `7,${i},${1 + (i % 5)}`)].join('\n');
    await page.locator('#ratings').setInputFiles({ name: 'mine.csv', mimeType: 'text/csv', buffer: Buffer.from(`${csv}\n`) });
    await page.waitForFunction(() => /^mine\.csv: /.test(document.getElementById('data-summary').textContent));
    assert.match(await page.locator('#data-summary').textContent(), /1 user; client 7 has 12 ratings/);
    // Join from the keyboard.
    await page.locator('#join-button').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => window.fedwasmClient.state() === 'refused', null, { timeout: 20_000 });
    const alert = await page.getByRole('alert').textContent();
    assert.match(alert, /does not fit the coordinator's model/);
    assert.match(alert, /softmax_regression, a classifier of 10 classes/);
    assert.match(await page.locator('#s-model').textContent(), /^softmax_regression/);
    const events = await page.evaluate(() => window.fedwasmClient.events);
    assert.ok(!events.some((e) => e.type === 'roundstart'), 'a refused tab got no task');

    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the client page is ${width} px wide at 375 px`);
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button, progress')]
        .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim())))
        .map((el) => el.id || el.outerHTML),
    );
    assert.deepEqual(unlabelled, []);
    assert.equal(await page.locator('#log').getAttribute('aria-live'), 'polite');
    await screenshot(page, 'client-refused-375px.png');
    assert.deepEqual(problems, []);

    const st = await openTab(browser, `${server.url}status.html?status=${encodeURIComponent(coordinator.statusUrl)}`, { viewport: { width: 375, height: 800 } });
    await st.page.waitForFunction(() => window.fedwasmStatus.polls() > 0 && window.fedwasmStatus.reachable());
    assert.ok((await st.page.evaluate(() => document.documentElement.scrollWidth)) <= 375);
    assert.deepEqual(st.problems, []);
  } finally {
    await browser.close();
  }
});

test('the status page says clearly when the coordinator is unreachable', async () => {
  const browser = await launchChromium();
  try {
    // A port nothing listens on: a closed server's.
    const gone = await startServer({ port: 0 });
    await gone.close();
    const url = `http://127.0.0.1:${gone.port}/status`;
    const { page, problems } = await openTab(browser, `${server.url}status.html?status=${encodeURIComponent(url)}`, { allow: [/ERR_CONNECTION_REFUSED/, /Failed to load resource/] });
    await page.waitForFunction(() => window.fedwasmStatus.polls() >= 2);
    const alert = page.getByRole('alert');
    assert.equal(await alert.isVisible(), true);
    assert.match(await alert.textContent(), new RegExp(`Cannot reach the coordinator at ${url.replace(/[.]/g, '\\.')}`));
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('Federated Reconstruction from a picked CSV: the tab keeps its user vector in IndexedDB', async () => {
  const reconDir = await tempDir('fedwasm-tabs-recon-');
  const token = tokens(1, 'recon')[0];
  const task = {
    model: { builtin: 'matrixFactorization', options: { items: 12, dim: 4 } },
    algorithm: 'fedRecon',
    rounds: 2,
    clientsPerRound: 1,
    minReports: 1,
    reportDeadlineSeconds: 60,
    selectionTimeoutSeconds: 1,
    clientOptimizer: { name: 'sgd', learningRate: 0.1 },
    reconstructionOptimizer: { name: 'sgd', learningRate: 0.1 },
    serverOptimizer: { name: 'sgd', learningRate: 1 },
    preprocessing: { epochs: 1, batchSize: 4 },
    tokens: [token],
  };
  const recon = await serveProcess(['--task', await writeTask(reconDir, task), '--state-dir', join(reconDir, 'state')]);
  const browser = await launchChromium();
  try {
    const url = clientPageUrl(server.url, { coordinatorUrl: recon.url, token, autojoin: false });
    const { page, problems } = await openTab(browser, url);
    await page.locator('#kind').selectOption('ratings');
    const csv = ['user,item,rating', ...Array.from({ length: 12 }, (_, i) => `u1,${i},${i % 2 ? 5 : 1}`)].join('\n');
    await page.locator('#ratings').setInputFiles({ name: 'ratings.csv', mimeType: 'text/csv', buffer: Buffer.from(`${csv}\n`) });
    await page.waitForFunction(() => /^ratings\.csv: /.test(document.getElementById('data-summary').textContent));
    await page.locator('#join-button').click();
    await page.waitForFunction(() => window.fedwasmClient.state() === 'done', null, { timeout: 60_000 });
    assert.match(await page.locator('#s-model').textContent(), /^matrix_factorization: an item id \(12 items\)/);
    assert.equal(await page.evaluate(() => window.fedwasmClient.reports()), 2);
    const bytes = await page.evaluate(() => window.fedwasmClient.localStateBytes());
    assert.ok(bytes > 0, 'the reconstructed user vector is kept');
    assert.equal(await page.locator('#s-local').textContent(), `${bytes} bytes in IndexedDB`);
    // In this browser's IndexedDB (connect's default storage), not in memory only.
    const stored = await page.evaluate(() => new Promise((resolve, reject) => {
      const req = indexedDB.open('fedwasm');
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const get = req.result.transaction('blobs').objectStore('blobs').getAllKeys();
        get.onsuccess = () => resolve(get.result);
      };
    }));
    assert.equal(stored.length, 1, JSON.stringify(stored));
    assert.match(stored[0], /-client-0$/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    recon.kill();
    await recon.exited;
    await rm(reconDir, { recursive: true, force: true });
  }
});

test('digit images picked on the page are decoded with labels from their names and fit the digit model', async () => {
  const browser = await launchChromium();
  try {
    const url = clientPageUrl(server.url, { coordinatorUrl: coordinator.url, token: TOKENS[2], autojoin: false });
    const { page, problems } = await openTab(browser, url);
    // PNGs drawn by the browser itself: a digit in dark ink on white, named `<label>_<n>.png`.
    const pngs = await page.evaluate(async () => {
      const out = [];
      for (let i = 0; i < 6; i++) {
        const c = new OffscreenCanvas(40, 40);
        const ctx = c.getContext('2d');
        ctx.fillStyle = 'white';
        ctx.fillRect(0, 0, 40, 40);
        ctx.fillStyle = 'black';
        ctx.font = '32px sans-serif';
        ctx.fillText(String(i % 3), 10, 32);
        const bytes = new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer());
        out.push({ name: `${i % 3}_${i}.png`, b64: btoa(String.fromCharCode(...bytes)) });
      }
      return out;
    });
    await page.locator('#images').setInputFiles(pngs.map((p) => ({ name: p.name, mimeType: 'image/png', buffer: Buffer.from(p.b64, 'base64') })));
    assert.match(await page.locator('#data-summary').textContent(), /^6 images picked/);
    await page.locator('#join-button').click();
    // The welcome's model takes these images: the tab checks in (or hears that every round is done).
    await page.waitForFunction(() => window.fedwasmClient.welcome() !== null && ['waiting', 'done', 'refused', 'error'].includes(window.fedwasmClient.state()), null, { timeout: 20_000 });
    assert.match(await page.evaluate(() => window.fedwasmClient.state()), /^(waiting|done)$/);
    assert.match(await page.locator('#log li').first().textContent(), /as client local \(6 examples/);
    assert.equal(await page.locator('#error').isHidden(), true);
    if (await page.locator('#leave-button').isEnabled()) {
      await page.locator('#leave-button').click();
      assert.equal(await page.evaluate(() => window.fedwasmClient.state()), 'left');
      assert.equal(await page.locator('#join-button').isEnabled(), true);
    }
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
