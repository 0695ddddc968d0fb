// The README's quickstarts, run as a user would: the Node.js one with
// `node`, the two page ones in headless Chromium from a plain static server
// over this project (which has the tarball in node_modules/).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, extname, normalize } from 'node:path';

const repo = process.env.FEDWASM_REPO;
const readme = readFileSync(join(repo, 'README.md'), 'utf8');

/** The code block after `<!-- quickstart: NAME ... -->` in the README. */
function quickstart(name) {
  const m = new RegExp(`<!-- quickstart: ${name}\\b[^>]*-->\\n\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``).exec(readme);
  assert.ok(m, `README has quickstart ${name}`);
  const code = m[1];
  assert.ok(code.trimEnd().split('\n').length <= 15, `quickstart ${name} is at most 15 lines`);
  return code;
}

test('README quickstart: Node.js', () => {
  writeFileSync('quickstart-node.mjs', quickstart('node'));
  const out = execFileSync(process.execPath, ['quickstart-node.mjs'], { encoding: 'utf8', timeout: 120_000 });
  const losses = [...out.matchAll(/^round (\d): loss ([\d.]+)$/gm)].map((m) => Number(m[2]));
  assert.equal(losses.length, 5, out);
  assert.ok(losses[4] < losses[0], `the loss falls: ${losses}`);
});

test('README quickstart: a coordinator and two clients over WebSocket', () => {
  writeFileSync('quickstart-coordinator.mjs', quickstart('coordinator'));
  const out = execFileSync(process.execPath, ['quickstart-coordinator.mjs'], { encoding: 'utf8', timeout: 120_000 });
  const losses = [...out.matchAll(/^round (\d): loss ([\d.]+)$/gm)].map((m) => Number(m[2]));
  assert.equal(losses.length, 5, out);
  assert.ok(losses[4] < losses[0], `the loss falls: ${losses}`);
});

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const root = process.cwd();
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  try {
    const body = readFileSync(join(root, path));
    res.writeHead(200, { 'Content-Type': MIME[extname(path)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
const { chromium } = await import(join(repo, 'tests/pkg-node/node_modules/playwright-core/index.mjs'));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
after(async () => {
  await browser.close();
  server.close();
});

/** Opens the quickstart page, waits for `lastRound`, returns the page's text; fails on any console error. */
async function runPage(name, lastRound) {
  writeFileSync(`${name}.html`, `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>${name}</title>\n${quickstart(name)}`);
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/${name}.html`);
  await page.waitForFunction((n) => document.body.textContent.includes(`round ${n}:`) , lastRound, { timeout: 180_000 }).catch((e) => {
    throw new Error(`${e.message}; console errors: ${errors.join(' | ')}`);
  });
  const text = await page.evaluate(() => document.body.textContent);
  await page.close();
  assert.deepEqual(errors, []);
  return text;
}

test('README quickstart: FedAvg in a page (WorkerPool of Web Workers)', async () => {
  const text = await runPage('page-fedavg', 3);
  const acc = [...text.matchAll(/round \d: accuracy ([\d.]+) \((cpu|webgpu)\)/g)].map((m) => Number(m[1]));
  assert.equal(acc.length, 3, text);
  assert.ok(acc.every((a) => a >= 0 && a <= 1), text);
});

test('README quickstart: Federated Reconstruction in a page', async () => {
  const text = await runPage('page-fedrecon', 5);
  const losses = [...text.matchAll(/round \d: loss ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.equal(losses.length, 5, text);
  assert.ok(losses[4] < losses[0], `the loss falls: ${losses}`);
});
