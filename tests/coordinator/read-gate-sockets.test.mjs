// The upload gate (pkg/src/coordinator/read-gate.js) on real sockets: a
// WebSocket server on loopback with one upload slot. While one client holds
// the slot mid-message, a connection an upload is expected from reads not a
// byte of its 16 MB message (it waits in the kernel and on the client), and
// one that starts a message unannounced reads at most the one chunk that
// told the gate; both messages arrive whole once the slot frees. Over
// plain TCP and over TLS (a TLS socket's handle wraps the TCP one).
// Run: node --test tests/coordinator/read-gate-sockets.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './lib.mjs';
import { ReadGate } from '../../pkg/src/coordinator/read-gate.js';

const WS = createRequire(new URL('../../pkg/package.json', import.meta.url))('ws');
const BIG = 16 * 1024 * 1024; // more than loopback's socket buffers hold
const CHUNK = 64 * 1024; // the most one read takes

const turn = () => new Promise((r) => setImmediate(r));

/** Waits (event-loop turns, with short sleeps) until `ok()`; fails with `what` after many tries. */
async function until(ok, what) {
  for (let i = 0; i < 2000; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`never: ${what}`);
}

/** A self-signed certificate for 127.0.0.1 (openssl). */
async function selfSigned() {
  const dir = await tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

for (const tls of [false, true]) {
  test(`${tls ? 'TLS' : 'TCP'}: held and queued connections keep their bytes out of the process; both messages arrive once the slot frees`, async (t) => {
    await gateOnSockets(t, tls ? await selfSigned() : null);
  });
}

async function gateOnSockets(t, tls) {
  const gate = new ReadGate(1);
  const http = tls ? createHttpsServer(tls) : createServer();
  const wss = new WS.WebSocketServer({ noServer: true, perMessageDeflate: false });
  const server = []; // per connection, in order: { socket, entry, messages }
  http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
    const conn = { socket: req.socket, entry: gate.watch(req.socket, ws), messages: [] };
    ws.on('message', (data) => conn.messages.push(data.length));
    server.push(conn);
  }));
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const ws of wss.clients) ws.terminate();
    http.close();
  });
  const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${http.address().port}/`;
  const clients = [];
  for (let i = 0; i < 3; i++) {
    const ws = new WS(url, { perMessageDeflate: false, ...(tls ? { ca: tls.cert } : {}) });
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    clients.push(ws);
    await until(() => server.length === i + 1, 'the server sees the connection');
  }
  const [a, held, queued] = clients;
  const [sa, sHeld, sQueued] = server;
  // a begins a message and holds the slot (its first fragment, no fin).
  a.send(Buffer.alloc(1000), { fin: false });
  await until(() => gate.stats.active === 1, 'a holds the slot');
  gate.expect(sHeld.entry, true); // its report is awaited: held at once, before it sends
  assert.equal(gate.held, 1);
  const heldBefore = sHeld.socket.bytesRead;
  const queuedBefore = sQueued.socket.bytesRead;
  held.send(Buffer.alloc(BIG, 1));
  queued.send(Buffer.alloc(BIG, 2));
  // Both clients are blocked by TCP flow control: their bytes wait on their side.
  // (A TLS socket's handle stops the TCP reads under it, too.)
  await until(() => held.bufferedAmount > 0 && queued.bufferedAmount > 0, 'both senders are blocked');
  // The queued one has read the chunk that put it in line: bytes reached the server meanwhile.
  await until(() => gate.stats.waiting === 1, 'the unannounced sender is queued');
  for (let i = 0; i < 20; i++) await turn();
  assert.equal(sHeld.socket.bytesRead, heldBefore, 'the held connection read nothing');
  assert.equal(sHeld.socket.readableLength, 0);
  assert.ok(sQueued.socket.bytesRead - queuedBefore <= CHUNK, `the queued connection read one chunk at most (${sQueued.socket.bytesRead - queuedBefore} bytes)`);
  assert.equal(sQueued.socket.readableLength, 0, 'and its stream buffers nothing');
  assert.deepEqual(gate.stats, { active: 1, waiting: 1 });
  // a finishes: the queued connection (it began first) takes the slot; then the held one.
  a.send(Buffer.alloc(1000), { fin: true });
  await until(() => sQueued.messages.length === 1, 'the queued message arrives');
  await until(() => sHeld.messages.length === 1, 'the held message arrives');
  assert.deepEqual([sa.messages, sQueued.messages, sHeld.messages], [[2000], [BIG], [BIG]]);
  assert.deepEqual(gate.stats, { active: 0, waiting: 0 });
  assert.equal(gate.held, 0);
}
