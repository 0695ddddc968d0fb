// A static server for the demo: www/ at `/`, the package at `/pkg/` (the
// page imports `../pkg/src/index.js`, and the package finds its wasm and its
// worker beside it through `import.meta.url`). Loopback only; GET and HEAD;
// no directory listings; nothing outside those two folders. The same
// server serves the coordinator pages: `/client.html` (join a coordinator
// from a tab; it imports `../pkg/src/index.js` too) and `/status.html` (a
// coordinator's /status, which the coordinator answers with CORS open).
//
//   node www/serve.mjs [--port N]     (default 8765; 0: any free port)
//
// `startServer` is what the headless driver and tests/e2e use.
import { createServer } from 'node:http';
import { createReadStream, promises as fs } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const WWW = fileURLToPath(new URL('.', import.meta.url));
const ROOT = resolve(WWW, '..');

/** URL prefix -> folder. The first match wins. */
const MOUNTS = [
  ['/pkg/', join(ROOT, 'pkg')],
  ['/', WWW],
];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

/** The file a URL path names, or null when it names nothing we serve. */
export function resolvePath(urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  for (const [prefix, dir] of MOUNTS) {
    if (!path.startsWith(prefix)) continue;
    const rel = normalize(path.slice(prefix.length));
    const file = resolve(dir, rel.endsWith(sep) || rel === '.' ? join(rel, 'index.html') : rel);
    if (file !== dir && !file.startsWith(dir.endsWith(sep) ? dir : dir + sep)) return null;
    if (file.split(sep).includes('node_modules')) return null;
    return file;
  }
  return null;
}

async function handle(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const url = new URL(req.url, 'http://localhost');
  let file = resolvePath(url.pathname);
  let stat = file && (await fs.stat(file).catch(() => null));
  if (stat?.isDirectory()) {
    file = join(file, 'index.html');
    stat = await fs.stat(file).catch(() => null);
  }
  if (!stat?.isFile()) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname}\n`);
    return;
  }
  res.writeHead(200, {
    'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
    'Content-Length': stat.size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

/**
 * Serves the project on 127.0.0.1.
 * @param {{ port?: number, host?: string }} [options] port 0: any free port
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export function startServer({ port = 8765, host = '127.0.0.1' } = {}) {
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`internal error: ${err.message}\n`);
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      ok({
        url: `http://${host}:${actual}/`,
        port: actual,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

function parsePort(argv) {
  const i = argv.indexOf('--port');
  if (i < 0) return 8765;
  const port = Number(argv[i + 1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port needs a port number, got ${argv[i + 1]}`);
  return port;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await startServer({ port: parsePort(process.argv.slice(2)) });
  console.log(`fedwasm demo: ${url}`);
  console.log('(Ctrl-C stops the server)');
}
