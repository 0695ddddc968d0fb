// The coordinator's network side: one HTTP(S) server with
//   GET /status   the coordinator's state as JSON (CORS open: the status
//                 page may be served from anywhere)
//   WebSocket     any other path upgrades; one binary message is one frame
//                 (pkg/PROTOCOL.md). Messages over `limits.messageBytes`
//                 are refused by the WebSocket layer from their header,
//                 before anything is read: the connection closes with 1009.
// Connections over `limits.connections` are refused at the upgrade (503).
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { FedwasmError } from '../errors.js';
import { Coordinator } from './coordinator.js';
import { readTaskFile, parseTask } from './task-file.js';
import { loadAggregator } from '../aggregator.js';
import { ReadGate } from './read-gate.js';
import { heartbeat, HEARTBEAT_MS } from './heartbeat.js';
import { ready } from '../engine.js';

// A message must arrive whole within this long once its first bytes have.
const MESSAGE_TIMEOUT_MS = 120_000;

/**
 * Starts a coordinator and its server.
 * @param {{ task: string | object, host?: string, port?: number, stateDir?: string,
 *   tlsCert?: string, tlsKey?: string, log?: (line: string) => void, aggregator?: object, heartbeatMs?: number }} options
 *   `task`: a task file's path, or its JSON as an object. `heartbeatMs`: how
 *   often connections are pinged (default 15 s; three unanswered in a row close one).
 * @returns {Promise<{ url: string, statusUrl: string, port: number, coordinator: Coordinator,
 *   done: Promise<object>, close: () => Promise<void> }>}
 */
export async function serve(options) {
  const { task: taskOption, host = '127.0.0.1', port = 8787, stateDir = null, tlsCert, tlsKey, log, aggregator, heartbeatMs = HEARTBEAT_MS } = options;
  await ready();
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new FedwasmError('invalid_argument', 'serve: give both tlsCert and tlsKey, or neither');
  }
  if (!(Number.isFinite(heartbeatMs) && heartbeatMs > 0)) {
    throw new FedwasmError('invalid_argument', `serve: heartbeatMs must be a positive number of milliseconds, got ${heartbeatMs}`);
  }
  const tls = tlsCert !== undefined;
  const task = typeof taskOption === 'string' ? readTaskFile(taskOption) : parseTask(taskOption);
  const coordinator = new Coordinator(task, { aggregator: aggregator ?? (await loadAggregator()), stateDir, log });
  const onRequest = (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/status') {
      const body = JSON.stringify(coordinator.status(), (_, v) => (typeof v === 'bigint' ? v.toString() : v));
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET' });
      res.end();
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('fedwasm coordinator: GET /status, or connect a WebSocket client\n');
  };
  let http;
  try {
    http = tls ? createHttpsServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey) }, onRequest) : createHttpServer(onRequest);
  } catch (e) {
    throw new FedwasmError('io', `serve: the TLS certificate or key: ${e.message}`);
  }
  const wss = new WebSocketServer({ noServer: true, maxPayload: task.limits.messageBytes, perMessageDeflate: false });
  const gate = new ReadGate(task.limits.concurrentUploads);
  http.on('upgrade', (req, socket, head) => {
    if (wss.clients.size >= task.limits.connections) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
      (log ?? console.log)(`refused a connection from ${req.socket.remoteAddress}: ${task.limits.connections} connections already`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws, req) => {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    ws.gate = gate.watch(req.socket, ws);
    const session = coordinator.connect(
      {
        // Resolves once ws has written the frame to the socket.
        send: (bytes) => new Promise((resolve, reject) => ws.send(bytes, (e) => (e ? reject(e) : resolve()))),
        close: (code, reason) => ws.close(code, reason),
        // The coordinator awaits this client's report: the upload gate may
        // leave it unread while every upload slot is taken.
        expectUpload: (expected) => gate.expect(ws.gate, expected),
      },
      remote,
    );
    ws.missedPongs = 0;
    // Only the answer to our own ping counts (an unsolicited pong proves nothing).
    ws.on('pong', (data) => {
      if (ws.nonce && data.equals(ws.nonce)) ws.missedPongs = 0;
    });
    ws.on('message', (data, isBinary) => {
      session.message(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), { text: !isBinary });
    });
    ws.on('error', (e) => {
      (log ?? console.log)(`connection ${remote}: ${e.message}`);
    });
    ws.on('close', () => session.closed());
  });
  // Connections that stop answering pings are closed (a frozen tab, a lost network).
  const heartbeatTimer = setInterval(() => {
    for (const socket of gate.stalled(MESSAGE_TIMEOUT_MS)) socket.destroy();
    for (const ws of wss.clients) {
      // Three pings unanswered (45 s): a busy client may answer one late.
      const action = heartbeat(ws, gate.isWaiting(ws.gate));
      if (action === 'terminate') ws.terminate();
      else if (action === 'ping') {
        ws.nonce = randomBytes(8);
        ws.ping(ws.nonce);
      }
    }
  }, heartbeatMs);
  heartbeatTimer.unref();

  try {
    await new Promise((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    // Rounds start once the server listens (a port in use leaves nothing running).
    await coordinator.start();
  } catch (e) {
    clearInterval(heartbeatTimer);
    coordinator.stop();
    await new Promise((resolve) => http.close(() => resolve()));
    throw e.code === 'EADDRINUSE' ? new FedwasmError('io', `serve: ${host}:${port} is in use`) : e;
  }
  const bound = http.address().port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `${tls ? 'wss' : 'ws'}://${shownHost}:${bound}/`;
  const statusUrl = `${tls ? 'https' : 'http'}://${shownHost}:${bound}/status`;
  let closing = null;
  const close = () => {
    closing ??= (async () => {
      clearInterval(heartbeatTimer);
      coordinator.stop();
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(() => resolve()));
      await new Promise((resolve) => http.close(() => resolve()));
    })();
    return closing;
  };
  return { url, statusUrl, port: bound, coordinator, done: coordinator.done, close };
}
