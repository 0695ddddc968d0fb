// The benchmarks of the wasm32 build in headless Chromium, on the CPU backend
// and on WebGPU (Chromium's own adapter: SwiftShader, a CPU emulation, on a
// machine without a GPU): training examples/s (benchTrain, the same code and
// measurement as `fedwasm bench train` and tests/node/bench.mjs) and square
// GEMM GFLOP/s, WebGPU kernel vs the wasm CPU backend (benchMatmul).
//
//   bash tests/build-web-pkg.sh
//   node tests/browser/bench.mjs [--only cnn,softmax,matmul] [--backend cpu,webgpu]
//        [--batches 20,64,256] [--examples N] [--epochs N] [--sizes 256,512,1024]
//        [--runs N] [--timeout SECONDS] [--json]
//
// Rows (in this order, each its own call in the page):
//   cnn at each of --batches (default 20, 64, 256) and softmax at batch 20,
//   each on every --backend (default cpu, then webgpu); then matmul at each of
//   --sizes (WebGPU and CPU in one call).
// Defaults (one warm-up epoch, then the best of the timed epochs): softmax
// 10,000 examples, 10 epochs on cpu and 3 on webgpu; cnn 1,000 examples and
// 3 epochs on cpu (as tests/node/bench.mjs), 512 examples and 1 epoch on
// webgpu, so that a run stays within a few minutes on SwiftShader with 2
// vCPUs; --examples and --epochs set every row. Chromium's V8 compiles wasm
// with its baseline compiler (Liftoff) first and tiers hot functions up to
// TurboFan in the background: softmax epochs are short (~30 ms), and with
// only 3 of them the best was 42-66 ms instead of 30. Matmul: the median of
// 5 runs, after one untimed benchMatmul([256], 2) call for the same reason
// (without it the CPU backend's 256^3 GEMM read 4.5 instead of 42 GFLOP/s).
// --timeout bounds each row (default 600 s).
//
// Needs: target/pkg-web/ (tests/build-web-pkg.sh), Chromium at /usr/bin/chromium
// (or $CHROMIUM), and playwright-core, pinned in tests/browser/package-lock.json
// and installed here on first use (`npm ci`; it never downloads a browser).
// The page is served over http on 127.0.0.1 by a server in this script
// (navigator.gpu only exists on http(s) pages, not about:blank).
//
// Output: progress per row on stderr; the Chromium version, the WebGPU
// adapter, the command and a markdown table of every row on stdout (on
// stderr with --json, which prints JSON lines on stdout instead: one
// {"kind":"meta"}, then one per row). Page console errors and warnings,
// uncaught exceptions and failed requests are echoed to stderr as they come.
// A failed row (e.g. an op with no WebGPU kernel yet) is reported in its row
// and the run goes on, on a freshly loaded page.
// Exit status: 0 every row ran; 2 some rows failed; 1 the harness or the page
// failed (no package, no browser, the module did not load, no WebGPU adapter
// while WebGPU rows were asked for).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const pkgDir = join(root, 'target', 'pkg-web');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
// The flags of crate/fedwasm/webdriver.json (explained in tests/run.sh).
const chromiumArgs = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------
const args = process.argv.slice(2);
const known = new Set([
  'only', 'backend', 'batches', 'examples', 'epochs', 'sizes', 'runs', 'timeout', 'json', 'help',
]);
for (const a of args) {
  if (a.startsWith('--') && !known.has(a.slice(2))) die(`unknown option ${a} (see the top of ${rel(fileURLToPath(import.meta.url))})`);
}
if (args.includes('--help')) {
  const src = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const lines = src.split('\n');
  const end = lines.findIndex((l) => !l.startsWith('//'));
  console.log(lines.slice(0, end).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}
function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  if (i + 1 >= args.length || args[i + 1].startsWith('--')) die(`--${name} needs a value`);
  return args[i + 1];
}
function list(name, fallback, allowed) {
  const items = flag(name, fallback).split(',').map((s) => s.trim()).filter(Boolean);
  for (const it of items) {
    if (allowed && !allowed.includes(it)) die(`--${name}: unknown ${it}; use ${allowed.join(', ')}`);
  }
  return items;
}
function positive(name, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) die(`--${name}: want a positive integer, got ${value}`);
  return n;
}
const json = args.includes('--json');
const only = list('only', 'cnn,softmax,matmul', ['cnn', 'softmax', 'matmul']);
const backends = list('backend', 'cpu,webgpu', ['cpu', 'webgpu']);
const batches = list('batches', '20,64,256').map((b) => positive('batches', b));
const sizes = list('sizes', '256,512,1024').map((n) => positive('sizes', n));
const runs = positive('runs', flag('runs', 5));
const timeoutS = positive('timeout', flag('timeout', 600));
const examplesFlag = flag('examples', undefined);
const epochsFlag = flag('epochs', undefined);
const defaults = {
  softmax: { cpu: [10000, 10], webgpu: [10000, 3] },
  cnn: { cpu: [1000, 3], webgpu: [512, 1] },
};

const rows = [];
for (const model of ['cnn', 'softmax']) {
  if (!only.includes(model)) continue;
  for (const batch of model === 'cnn' ? batches : [20]) {
    for (const backend of backends) {
      const [ex, ep] = defaults[model][backend];
      const examples = examplesFlag !== undefined ? positive('examples', examplesFlag) : ex;
      const epochs = epochsFlag !== undefined ? positive('epochs', epochsFlag) : ep;
      if (examples < batch) die(`${model} batch ${batch}: ${examples} examples is below the batch (--examples)`);
      rows.push({ kind: 'train', model, batch, backend, examples, epochs });
    }
  }
}
if (only.includes('matmul')) rows.push({ kind: 'matmul', sizes, runs });
const needsWebgpu = rows.some((r) => r.kind === 'matmul' || r.backend === 'webgpu');
const command = ['node', rel(fileURLToPath(import.meta.url)), ...args].join(' ');

function rel(p) {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
}
function die(message) {
  console.error(`bench: ${message}`);
  process.exit(1);
}
const log = (...m) => console.error(...m);
// Report lines (header and table): stdout, or stderr when stdout carries JSON.
const out = (line = '') => (json ? console.error(line) : console.log(line));

// ---------------------------------------------------------------------------
// Prerequisites: the web package, Chromium, playwright-core
// ---------------------------------------------------------------------------
if (!existsSync(join(pkgDir, 'fedwasm.js')) || !existsSync(join(pkgDir, 'fedwasm_bg.wasm'))) {
  die(`no web package in ${rel(pkgDir)}: run bash tests/build-web-pkg.sh first`);
}
if (!existsSync(chromiumPath)) die(`no Chromium at ${chromiumPath} (set CHROMIUM, or install it: see tests/run.sh)`);

async function loadPlaywright() {
  if (!existsSync(join(here, 'node_modules', 'playwright-core', 'package.json'))) {
    const lock = existsSync(join(here, 'package-lock.json'));
    const npmArgs = [lock ? 'ci' : 'install', '--prefix', here, '--no-audit', '--no-fund'];
    log(`installing playwright-core: npm ${npmArgs.join(' ')}`);
    const r = spawnSync('npm', npmArgs, {
      // npm's output goes to stderr: stdout may carry JSON.
      stdio: ['ignore', 2, 2],
      env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' },
    });
    if (r.status !== 0) die(`npm ${npmArgs[0]} failed (exit ${r.status ?? r.signal})`);
  }
  return import(new URL('./node_modules/playwright-core/index.mjs', import.meta.url).href);
}

// ---------------------------------------------------------------------------
// The static server: / is bench.html, /pkg/* is target/pkg-web/*.
// ---------------------------------------------------------------------------
const mime = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
};
function serve(req, res) {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file = null;
  if (path === '/' || path === '/bench.html') {
    file = join(here, 'bench.html');
  } else if (path.startsWith('/pkg/')) {
    const f = normalize(join(pkgDir, path.slice('/pkg/'.length)));
    if (f.startsWith(pkgDir + sep)) file = f;
  }
  if (path === '/favicon.ico') {
    res.writeHead(204).end();
    return;
  }
  if (!file || !existsSync(file)) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
    return;
  }
  res.writeHead(200, {
    'content-type': mime[extname(file)] ?? 'application/octet-stream',
    'cache-control': 'no-store',
    // Cross-origin isolation: performance.now() at 5 us instead of 100 us.
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
  });
  res.end(readFileSync(file));
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------
const int = (x) => Math.round(x).toLocaleString('en-US');
const fixed = (x, d) => x.toFixed(d);
function duration(s) {
  return s < 1 ? `${(s * 1e3).toFixed(1)} ms` : `${s.toFixed(3)} s`;
}
function oneLine(message) {
  const m = String(message).replace(/\s+/g, ' ').trim();
  return m.length > 160 ? `${m.slice(0, 157)}...` : m;
}
function label(row) {
  return row.kind === 'train'
    ? `${row.model} batch ${row.batch} on ${row.backend} (${row.examples} examples, 1 + ${row.epochs} epochs)`
    : `matmul ${row.sizes.join(', ')} (WebGPU and CPU, median of ${row.runs})`;
}

// ---------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------
const server = createServer(serve);
await new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/`;

const { chromium } = await loadPlaywright();
let browser;
try {
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
} catch (e) {
  server.close();
  die(`Chromium did not start (${chromiumPath}): ${e.message}`);
}

let exitCode = 0;
try {
  exitCode = await main();
} catch (e) {
  log(`bench: ${e.message}`);
  exitCode = 1;
} finally {
  await browser.close().catch(() => {});
  server.close();
}
process.exit(exitCode);

// A fresh page with the module loaded, page diagnostics echoed to stderr.
async function openPage() {
  const page = await browser.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      log(`[page console.${msg.type()}] ${msg.text()}`);
    }
  });
  page.on('pageerror', (e) => log(`[page exception] ${e.stack || e.message}`));
  page.on('requestfailed', (r) => log(`[page request failed] ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) log(`[page request] ${r.url()}: HTTP ${r.status()}`);
  });
  page.on('crash', () => log('[page crashed]'));
  const response = await page.goto(url, { waitUntil: 'load' });
  if (!response || !response.ok()) throw new Error(`loading ${url} failed: HTTP ${response?.status()}`);
  const loaded = await page.evaluate(async () => {
    if (!window.fedwasmReady) return { ok: false, error: 'the module script did not run (see the page messages above)' };
    try {
      return { ok: true, version: await window.fedwasmReady };
    } catch (e) {
      return { ok: false, error: String(e?.stack || e) };
    }
  });
  if (!loaded.ok) throw new Error(`fedwasm did not load in the page: ${loaded.error}`);
  return { page, version: loaded.version };
}

// Calls window.fedwasm[fn](...args) in the page; resolves { ok, value | error }.
async function call(page, fn, fnArgs) {
  return page.evaluate(
    async ({ fn, fnArgs }) => {
      try {
        if (fn === 'benchMatmul') fnArgs = [new Uint32Array(fnArgs[0]), fnArgs[1]];
        return { ok: true, value: JSON.parse(await window.fedwasm[fn](...fnArgs)) };
      } catch (e) {
        return { ok: false, error: String(e?.message ?? e) };
      }
    },
    { fn, fnArgs },
  );
}

async function main() {
  let { page, version } = await openPage();
  const chromiumVersion = browser.version();
  const userAgent = await page.evaluate(() => navigator.userAgent);
  const gpu = await page.evaluate(async () => {
    if (!navigator.gpu) return { present: false };
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { present: true, adapter: null };
    const i = adapter.info ?? {};
    return {
      present: true,
      adapter: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description },
    };
  });
  const info = await call(page, 'backendInfo', ['webgpu']);
  const adapterName = info.ok ? info.value.adapter : null;
  const { cores, isolated } = await page.evaluate(() => ({
    cores: navigator.hardwareConcurrency,
    isolated: window.crossOriginIsolated,
  }));

  out(`fedwasm ${version} in Chromium ${chromiumVersion} (${chromiumPath}, headless; ${cores} logical cores)`);
  if (adapterName) {
    const d = gpu.adapter ?? {};
    const extra = [d.vendor && `vendor ${d.vendor}`, d.architecture && `architecture ${d.architecture}`, d.description && `"${d.description}"`]
      .filter(Boolean)
      .join(', ');
    out(`WebGPU adapter: ${adapterName}${extra ? ` (${extra})` : ''}`);
  } else {
    const why = !gpu.present
      ? 'navigator.gpu is missing'
      : gpu.adapter === null
        ? 'navigator.gpu.requestAdapter() gave null'
        : `backendInfo('webgpu') failed: ${info.error}`;
    out(`WebGPU adapter: none (${why})`);
    if (needsWebgpu) {
      log(`bench: no WebGPU in the page (${why}), and WebGPU rows were asked for; ` +
        'check the Chromium flags (--enable-unsafe-webgpu) or run with --backend cpu --only cnn,softmax');
      return 1;
    }
  }
  out(`Command: ${command}`);
  out();
  const meta = {
    kind: 'meta',
    fedwasm: version,
    chromium: chromiumVersion,
    user_agent: userAgent,
    logical_cores: cores,
    cross_origin_isolated: isolated,
    adapter: adapterName,
    adapter_info: gpu.adapter ?? null,
    command,
    date: new Date().toISOString(),
  };
  if (json) console.log(JSON.stringify(meta));

  const results = [];
  for (const [i, row] of rows.entries()) {
    log(`[${i + 1}/${rows.length}] ${label(row)} ...`);
    const t0 = performance.now();
    const fnArgs = row.kind === 'train'
      ? ['benchTrain', [row.model, row.batch, row.examples, row.epochs, row.backend]]
      : ['benchMatmul', [row.sizes, row.runs]];
    if (row.kind === 'matmul') {
      // Untimed: V8 tiers the GEMM up from Liftoff (see the top of the file).
      const w = await call(page, 'benchMatmul', [[256], 2]);
      if (!w.ok) log(`      (warm-up call failed: ${w.error})`);
    }
    const heartbeat = setInterval(() => log(`      ... ${Math.round((performance.now() - t0) / 1e3)} s`), 30e3);
    let timer;
    const timeout = new Promise((ok) => {
      timer = setTimeout(() => ok({ ok: false, error: `timed out after ${timeoutS} s (--timeout)`, timedOut: true }), timeoutS * 1e3);
    });
    let r;
    try {
      r = await Promise.race([call(page, ...fnArgs), timeout]);
    } catch (e) {
      // The page crashed or was closed under the call.
      r = { ok: false, error: `the page failed: ${e.message}` };
    }
    clearTimeout(timer);
    clearInterval(heartbeat);
    const wall = (performance.now() - t0) / 1e3;
    const result = { ...row, ok: r.ok, wall_seconds: wall };
    if (r.ok) result.result = r.value;
    else result.error = r.error;
    results.push(result);
    if (json) console.log(JSON.stringify(result));
    if (r.ok) {
      const v = r.value;
      log(row.kind === 'train'
        ? `      ${duration(wall)}: epoch ${duration(v.epoch_seconds)}, ${int(v.examples_per_second)} examples/s, ` +
          `${fixed(v.gflops, 2)} GFLOP/s (sgemm ${fixed(v.gemm_gflops, 2)})`
        : `      ${duration(wall)}: ` + v.rows.map((m) => `n=${m.n} WebGPU ${fixed(m.webgpu_gflops, 2)} / CPU ${fixed(m.cpu_gflops, 2)} GFLOP/s`).join('; '));
    } else {
      log(`      FAILED after ${duration(wall)}: ${r.error}`);
      // A failed call may leave the module in a bad state (a Rust panic
      // aborts it) or still running (a timeout): go on in a fresh page.
      await page.close({ runBeforeUnload: false }).catch(() => {});
      ({ page } = await openPage());
    }
  }
  await page.close().catch(() => {});

  report(results);
  const failed = results.filter((r) => !r.ok).length;
  if (failed) {
    out();
    out(`${failed} of ${results.length} rows failed (see above); exit status 2.`);
    return 2;
  }
  return 0;
}

function report(results) {
  const train = results.filter((r) => r.kind === 'train');
  if (train.length) {
    out('| Model | Batch | Backend | Examples x epochs | Epoch (best) | Examples/s | GFLOP/s | sgemm GFLOP/s | % of sgemm |');
    out('|---|---|---|---|---|---|---|---|---|');
    for (const r of train) {
      const model = r.model === 'cnn' ? 'cnn_dropout' : 'softmax 784->10';
      const head = `| ${model} | ${r.batch} | ${r.backend} | ${int(r.examples)} x ${r.epochs}`;
      if (r.ok) {
        const v = r.result;
        out(`${head} | ${duration(v.epoch_seconds)} | **${int(v.examples_per_second)}** | ${fixed(v.gflops, 2)} | ` +
          `${fixed(v.gemm_gflops, 2)} | ${fixed(100 * v.fraction_of_gemm, 0)}% |`);
      } else {
        out(`${head} | failed: ${oneLine(r.error).replaceAll('|', '\\|')} | | | | |`);
      }
    }
  }
  for (const r of results.filter((x) => x.kind === 'matmul')) {
    if (train.length) out();
    if (!r.ok) {
      out(`matmul ${r.sizes.join(', ')}: failed: ${oneLine(r.error)}`);
      continue;
    }
    out(`Square GEMM n x n x n, median of ${r.result.runs} runs (adapter: ${r.result.adapter.name}):`);
    out();
    out('| n | WebGPU ms | WebGPU GFLOP/s | CPU (wasm) ms | CPU (wasm) GFLOP/s |');
    out('|---|---|---|---|---|');
    for (const m of r.result.rows) {
      out(`| ${m.n} | ${fixed(m.webgpu_seconds * 1e3, 2)} | **${fixed(m.webgpu_gflops, 2)}** | ` +
        `${fixed(m.cpu_seconds * 1e3, 2)} | **${fixed(m.cpu_gflops, 2)}** |`);
    }
  }
}
