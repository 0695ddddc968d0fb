// The coordinator's upload gate (pkg/src/coordinator/read-gate.js) on fake
// sockets: at most `slots` connections are read mid-message; the others are
// paused until a slot frees (a finished message, a ping, a close), in order.
// Run: node --test tests/coordinator/read-gate.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ReadGate } from '../../pkg/src/coordinator/read-gate.js';

function fakeConnection(gate) {
  const socket = new EventEmitter();
  socket.paused = false;
  socket.pause = () => (socket.paused = true);
  socket.resume = () => (socket.paused = false);
  const ws = new EventEmitter();
  const entry = gate.watch(socket, ws);
  return { socket, ws, entry, chunk: (n) => socket.emit('data', Buffer.alloc(n)) };
}

test('two slots: a third sender waits, and goes on when a message completes or a sender leaves', () => {
  const gate = new ReadGate(2);
  const [a, b, c, d] = [0, 1, 2, 3].map(() => fakeConnection(gate));
  a.chunk(1000);
  b.chunk(1000);
  assert.deepEqual(gate.stats, { active: 2, waiting: 0 });
  c.chunk(10);
  d.chunk(10);
  assert.equal(c.socket.paused, true);
  assert.equal(d.socket.paused, true);
  assert.deepEqual(gate.stats, { active: 2, waiting: 2 });
  c.socket.resume(); // the WebSocket layer's own resume (after a drain) does not open the gate
  assert.equal(c.socket.paused, true);
  a.chunk(500); // still mid-message: nothing changes
  assert.equal(c.socket.paused, true);
  a.ws.emit('message'); // a's message is whole: c, first in line, is read
  assert.equal(c.socket.paused, false);
  assert.equal(d.socket.paused, true);
  b.ws.emit('close'); // b leaves: d is read
  assert.equal(d.socket.paused, false);
  assert.deepEqual(gate.stats, { active: 2, waiting: 0 });
  // A whole message in one chunk never holds a slot.
  c.ws.emit('message');
  d.ws.emit('pong');
  assert.deepEqual(gate.stats, { active: 0, waiting: 0 });
  a.chunk(10);
  assert.deepEqual(gate.stats, { active: 1, waiting: 0 });
});

test('a connection put in line by a chunk that held a whole small message is let go and holds no slot', () => {
  const gate = new ReadGate(1);
  const [a, b] = [0, 1].map(() => fakeConnection(gate));
  a.chunk(1000); // a big message under way
  b.chunk(20); // a whole `ready` frame: in line at first...
  assert.equal(b.socket.paused, true);
  b.ws.emit('message'); // ...but it was a whole message
  assert.equal(b.socket.paused, false);
  assert.deepEqual(gate.stats, { active: 1, waiting: 0 });
  a.ws.emit('message');
  assert.deepEqual(gate.stats, { active: 0, waiting: 0 });
});

test('a queued connection that closes leaves the others in line, in order', () => {
  const gate = new ReadGate(1);
  const [a, b, c] = [0, 1, 2].map(() => fakeConnection(gate));
  a.chunk(1000);
  b.chunk(1000);
  c.chunk(1000);
  assert.deepEqual(gate.stats, { active: 1, waiting: 2 });
  b.ws.emit('close'); // b leaves while in line
  assert.deepEqual(gate.stats, { active: 1, waiting: 1 });
  a.ws.emit('message');
  assert.equal(c.socket.paused, false, 'c is read next');
  assert.deepEqual(gate.stats, { active: 1, waiting: 0 });
});

test('a ping between the fragments of a message does not free its slot', () => {
  const gate = new ReadGate(1);
  const [a, b] = [0, 1].map(() => fakeConnection(gate));
  a.chunk(100_000); // a message under way...
  a.ws.emit('ping'); // ...with a ping among its fragments
  b.chunk(1000);
  assert.equal(b.socket.paused, true, 'a still holds the slot');
  a.ws.emit('message');
  assert.equal(b.socket.paused, false);
  b.ws.emit('message');
  a.chunk(6); // a ping alone
  a.ws.emit('ping');
  assert.deepEqual(gate.stats, { active: 0, waiting: 0 });
});

test('a sender that stalls mid-message is reported after the timeout', async () => {
  const gate = new ReadGate(1);
  const a = fakeConnection(gate);
  a.chunk(10);
  assert.deepEqual(gate.stalled(1000), []);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(gate.stalled(10), [a.socket]);
});
