// Drives the demo page in headless Chromium (Debian's /usr/bin/chromium,
// through playwright-core, which never downloads a browser): serves the
// project, opens the page, runs a task through `window.fedwasmDemo` (see
// demo.js), prints one line per round, saves a screenshot and prints its
// path. Exit status 0 when the run finished with no console or page error.
//
//   node www/headless.mjs [--port N] [--task T] [--rounds N] [--query 'k=v&..'] [--out DIR]
//
// `--task` and `--rounds`, and any name of www/lib/params.js in --query,
// set the page's form through its query string. tests/e2e/demo.test.mjs uses
// `launch` and `openDemo` from here.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Chromium's flags: WebGPU on (SwiftShader without a GPU), no network of its own. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Starts headless Chromium. */
export async function launch() {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    throw new Error(`playwright-core is missing: run \`npm ci --prefix www\` (or bash www/demo.sh, which does) (${err.message})`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Opens the demo at `baseUrl` with `query` (an object or a query string),
 * recording console errors, page errors and failed requests in `problems`,
 * and forwarding every round's record to `onRound`. Waits for
 * `fedwasmDemo.ready`.
 */
export async function openDemo(browser, baseUrl, { query = '', onRound, viewport = { width: 1280, height: 1000 } } = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });
  if (onRound) {
    await page.exposeFunction('__fedwasmDemoRound', (record) => onRound(record));
    await page.addInitScript(() => {
      window.addEventListener('fedwasm-demo:round', (ev) => window.__fedwasmDemoRound(ev.detail));
    });
  }
  const qs = typeof query === 'string' ? query : new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  await page.goto(`${baseUrl}${qs ? `?${qs}` : ''}`);
  await page.waitForFunction(() => window.fedwasmDemo !== undefined);
  await page.evaluate(() => window.fedwasmDemo.ready);
  return { page, context, problems };
}

/** One line of a round's record: `round 2 train loss 2.91 acc 0.1358 | eval loss 2.49 acc 0.2102 | 0.31 s`. */
export function roundLine(r) {
  const part = (m) => {
    if (!m) return '-';
    const q = m.rmse !== undefined ? `rmse ${m.rmse.toFixed(4)}` : `acc ${m.accuracy.toFixed(4)}`;
    return `loss ${m.loss.toFixed(4)} ${q} (${m.examples} ex)`;
  };
  return `round ${r.round}  train ${part(r.train)}  |  eval ${part(r.eval)}  |  ${r.seconds.toFixed(2)} s`;
}

function parseArgs(argv) {
  const out = { port: 0, query: new URLSearchParams(), out: resolve(ROOT, 'target/demo') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') out.port = Number(next());
    else if (a === '--task') out.query.set('task', next());
    else if (a === '--rounds') out.query.set('rounds', next());
    else if (a === '--query') for (const [k, v] of new URLSearchParams(next())) out.query.set(k, v);
    else if (a === '--out') out.out = resolve(next());
    else if (a === '--headless') continue;
    else throw new Error(`unknown argument ${a} (known: --port N --task T --rounds N --query Q --out DIR)`);
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error('--port needs a port number');
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const server = await startServer({ port: args.port });
  const browser = await launch();
  let ok = false;
  try {
    console.log(`fedwasm demo (headless Chromium ${browser.version()}): ${server.url}${args.query.size ? `?${args.query}` : ''}`);
    const { page, problems } = await openDemo(browser, server.url, {
      query: args.query.toString(),
      onRound: (r) => console.log(roundLine(r)),
    });
    const badge = await page.locator('#backend-badge').textContent();
    console.log(`task: ${await page.locator('#task option:checked').textContent()}; ${badge}`);
    const result = await page.evaluate(() => window.fedwasmDemo.run());
    const info = await page.evaluate(() => ({ backend: window.fedwasmDemo.backend, errors: window.fedwasmDemo.errors }));
    const badgeAfter = await page.locator('#backend-badge').textContent();
    console.log(`run ${result.state}: ${result.history.length - 1} rounds; ${badgeAfter}`);
    await mkdir(args.out, { recursive: true });
    const shot = resolve(args.out, `demo-${args.query.get('task') ?? 'default'}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    for (const e of info.errors) problems.push(`page shows: ${e}`);
    for (const p of problems) console.error(p);
    ok = result.state === 'done' && problems.length === 0;
  } finally {
    await browser.close();
    await server.close();
  }
  if (!ok) {
    console.error('headless demo run FAILED');
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err.stack ?? String(err));
    process.exit(1);
  });
}
