// The npm package's benchmark, side by side in one run (issue 10, point 7):
//   node tests/pkg-bench/bench.mjs [--reps N] [--warmup N] [--json]
// 1. sizes of the client wasm and the JS glue, raw and gzip -9;
// 2. a W1 round and a W2-sized round (see rounds.js) in a page (headless
//    Chromium, Web Workers) and in Node.js (worker_threads), with 0 (the
//    calling thread), 1, 2 and N workers (N = the cores), and the same
//    rounds in the native CLI (`fedwasm simulate`, same clients and data);
// 3. the time from page load to the first W1 round finished.
// Needs pkg/wasm/ (bash tests/build-pkg.sh), target/release/fedwasm, ../shared
// (the LEAF writers for the native W2-sized round), and tests/pkg-node's
// playwright-core (npm ci --prefix tests/pkg-node).
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { availableParallelism, cpus } from 'node:os';
import { join, extname, normalize, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as fw from '../../pkg/src/node.js';
import { benchRounds } from './rounds.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? d : Number(process.argv[i + 1]);
};
const reps = arg('reps', 5);
const warmup = arg('warmup', 1);
const cores = availableParallelism();
const workerCounts = [...new Set([0, 1, 2, cores])];
const out = { machine: `${cpus()[0]?.model ?? 'cpu'} x ${cores}`, node: process.version, reps, sizes: {}, node_rounds: [], page_rounds: [], native: {}, first_round_ms: {} };
const say = (...a) => console.error(...a);

// 1. Sizes.
const size = (paths) => {
  const raw = paths.reduce((n, p) => n + readFileSync(p).length, 0);
  const gz = paths.reduce((n, p) => n + gzipSync(readFileSync(p), { level: 9 }).length, 0);
  return { raw, gzip: gz };
};
const glue = readdirSync(join(repo, 'pkg/src')).filter((f) => f.endsWith('.js')).map((f) => join(repo, 'pkg/src', f));
out.sizes.wasm = size([join(repo, 'pkg/wasm/fedwasm_bg.wasm')]);
out.sizes.glue = size([...glue, join(repo, 'pkg/wasm/fedwasm.js')]);
say('sizes', JSON.stringify(out.sizes));

// 2a. Node.js.
await fw.ready();
const pack = readFileSync(join(repo, 'www/data/femnist_digits_100.bin'));
for (const workload of ['w1', 'w2']) {
  for (const workers of workerCounts) {
    const r = await benchRounds(fw, { workload, workers, reps, warmup, pack });
    out.node_rounds.push(r);
    say('node', workload, workers, r.median_s.toFixed(3));
  }
}

// 2b. Native.
const cli = join(repo, 'target/release/fedwasm');
const nativeRounds = (args) => {
  const lines = execFileSync(cli, ['simulate', ...args], { env: { ...process.env, FEDWASM_BACKEND: 'cpu' }, encoding: 'utf8' })
    .trim().split('\n').map((l) => JSON.parse(l)).filter((l) => typeof l.round === 'number' && l.metrics?.client_work?.train);
  const s = lines.slice(warmup).map((l) => l.seconds).sort((a, b) => a - b);
  return { median_s: s[Math.floor(s.length / 2)], rounds: s };
};
const rounds = String(warmup + reps);
out.native.w1 = nativeRounds(['--workload', 'w1', '--rounds', rounds]);
const leaf = join(repo, '..', 'shared', 'data', 'femnist-leaf');
for (const threads of [...new Set([1, cores])]) {
  out.native[`w2_threads_${threads}`] = nativeRounds(['--workload', 'w2', '--data', leaf, '--writers', '100', '--rounds', rounds, '--eval-every', '0', '--threads', String(threads)]);
}
say('native', JSON.stringify(Object.fromEntries(Object.entries(out.native).map(([k, v]) => [k, v.median_s]))));

// 2c, 3. The page.
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.bin': 'application/octet-stream' };
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  try {
    const body = readFileSync(join(repo, path));
    res.writeHead(200, { 'Content-Type': MIME[extname(path)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}/tests/pkg-bench/page.html`;
const { chromium } = await import(join(repo, 'tests/pkg-node/node_modules/playwright-core/index.mjs'));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  out.browser = browser.version();
  for (const workload of ['w1', 'w2']) {
    for (const workers of workerCounts) {
      const page = await browser.newPage();
      await page.goto(base);
      await page.waitForFunction(() => window.benchReady === true);
      const r = await page.evaluate((c) => window.bench(c), { workload, workers, reps, warmup });
      await page.close();
      out.page_rounds.push(r);
      say('page', workload, workers, r.median_s.toFixed(3));
    }
  }
  for (const workers of [0, 1]) {
    const times = [];
    for (let i = 0; i < reps; i++) {
      const page = await browser.newPage();
      await page.goto(`${base}?first&workers=${workers}`);
      await page.waitForFunction(() => typeof window.firstRoundMs === 'number', null, { timeout: 120_000 });
      times.push(await page.evaluate(() => window.firstRoundMs));
      await page.close();
    }
    times.sort((a, b) => a - b);
    out.first_round_ms[`workers_${workers}`] = { median: times[Math.floor(times.length / 2)], runs: times };
    say('first round', workers, times[Math.floor(times.length / 2)].toFixed(0), 'ms');
  }
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(out, null, 2));
