// The coordinator's heartbeat (pkg/src/coordinator/heartbeat.js): a
// connection that misses MAX_MISSED_PONGS pings in a row is terminated; one
// the upload gate is not reading is not counted against, however long it
// waits; and `serve` applies it. Run: node --test tests/coordinator/heartbeat.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { heartbeat, MAX_MISSED_PONGS } from '../../pkg/src/coordinator/heartbeat.js';
import { serve } from '../../pkg/src/coordinator/index.js';
import { encodeFrame } from '../../pkg/src/net/frames.js';
import { w1Task, tokens } from './lib.mjs';

const WebSocket = createRequire(new URL('../../pkg/package.json', import.meta.url))('ws');

test('a connection that answers no ping is terminated after MAX_MISSED_PONGS beats', () => {
  const conn = { missedPongs: 0 };
  for (let i = 0; i < MAX_MISSED_PONGS; i++) assert.equal(heartbeat(conn, false), 'ping');
  assert.equal(heartbeat(conn, false), 'terminate');
});

test('a connection held unread by the upload gate survives any number of beats, and starts counting again when read', () => {
  const conn = { missedPongs: 0 };
  assert.equal(heartbeat(conn, false), 'ping');
  assert.equal(heartbeat(conn, false), 'ping'); // two pings unanswered...
  for (let i = 0; i < 10; i++) assert.equal(heartbeat(conn, true), 'wait'); // ...then held: its pongs wait with its report
  for (let i = 0; i < MAX_MISSED_PONGS; i++) assert.equal(heartbeat(conn, false), 'ping', 'read again: a full count before it is given up');
  assert.equal(heartbeat(conn, false), 'terminate');
});

test('serve: a connection that answers no ping is closed by the heartbeat; one that answers stays', async () => {
  const tk = tokens(2);
  const server = await serve({ task: w1Task({ tokens: tk }), port: 0, log: () => {}, heartbeatMs: 20 });
  try {
    const open = (autoPong, token) => new Promise((resolve, reject) => {
      const ws = new WebSocket(server.url, { autoPong, perMessageDeflate: false });
      ws.binaryType = 'arraybuffer';
      ws.once('open', () => ws.send(encodeFrame({ type: 'hello', meta: { token } })));
      ws.once('message', () => resolve(ws)); // welcome
      ws.once('error', reject);
    });
    const deaf = await open(false, tk[0]);
    const alive = await open(true, tk[1]);
    const code = await new Promise((resolve) => deaf.once('close', (c) => resolve(c)));
    assert.equal(code, 1006, 'terminated (no close frame)');
    assert.equal(alive.readyState, WebSocket.OPEN);
    alive.close();
  } finally {
    await server.close();
  }
});
