// The coordinator's upload gate (pkg/src/coordinator/read-gate.js) on fake
// sockets: at most `slots` connections are read mid-message; the others are
// paused until a slot frees (a finished message, a ping, a close), in order;
// connections an upload is expected from are held unread, before they send,
// while the slots are taken.
// Run: node --test tests/coordinator/read-gate.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ReadGate } from '../../pkg/src/coordinator/read-gate.js';

// A socket whose reads are started and stopped at its handle, as a
// net.Socket's are: `paused` is whether its handle is reading. Its stream's
// own resume (the WebSocket layer's, after a drain) restarts a handle that
// is not reading, as net.Socket's `_read` does.
function fakeConnection(gate) {
  const socket = new EventEmitter();
  socket.paused = false;
  socket.destroyed = false;
  socket._handle = {
    reading: true,
    readStop: () => ((socket.paused = true), 0),
    readStart: () => ((socket.paused = false), 0),
  };
  socket.pause = () => socket;
  socket.resume = () => {
    if (!socket._handle.reading) {
      socket._handle.reading = true;
      socket._handle.readStart();
    }
    return socket;
  };
  socket.read = () => null;
  const ws = new EventEmitter();
  const entry = gate.watch(socket, ws);
  return { socket, ws, entry, chunk: (n) => socket.emit('data', Buffer.alloc(n)) };
}

const turn = () => new Promise((r) => setImmediate(r));

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

test('while the slots are taken, connections expected to upload are held before they send, and reopened as slots free', async () => {
  const gate = new ReadGate(1);
  const [a, b, c, idle] = [0, 1, 2, 3].map(() => fakeConnection(gate));
  for (const x of [a, b, c]) gate.expect(x.entry, true);
  assert.equal(b.socket.paused, false, 'a free slot: everyone is read');
  a.chunk(1000); // a takes the slot...
  assert.deepEqual([b.socket.paused, c.socket.paused], [true, true], '...and the other expected uploads are held, before a byte');
  assert.equal(idle.socket.paused, false, 'a connection no upload is expected from is still read');
  assert.equal(gate.held, 2);
  assert.equal(gate.isWaiting(b.entry), true);
  b.socket.resume(); // the WebSocket layer's own resume does not reopen a held connection
  assert.equal(b.socket.paused, true);
  a.ws.emit('message'); // the slot frees: the oldest held is reopened, one per free slot
  gate.expect(a.entry, false); // a reported
  assert.deepEqual([b.socket.paused, c.socket.paused], [false, true]);
  b.chunk(1000); // b had its report waiting: it takes the slot
  assert.deepEqual(gate.stats, { active: 1, waiting: 0 });
  b.ws.emit('message');
  gate.expect(b.entry, false); // reported
  // c is reopened now; had it nothing to send, the next turns would reopen the rest.
  assert.equal(c.socket.paused, false);
  assert.equal(gate.held, 0);
});

test('a held connection with nothing to send does not keep a free slot from the others', async () => {
  const gate = new ReadGate(1);
  const conns = [0, 1, 2, 3].map(() => fakeConnection(gate));
  const [a, silent, b, c] = conns;
  for (const x of conns) gate.expect(x.entry, true);
  a.chunk(1000);
  assert.equal(gate.held, 3);
  a.ws.emit('message');
  gate.expect(a.entry, false);
  assert.equal(silent.socket.paused, false, 'the oldest held is reopened first');
  assert.equal(b.socket.paused, true);
  // silent sends nothing: a turn later the next one is reopened, and so on.
  for (let i = 0; i < 8 && c.socket.paused; i++) await turn();
  assert.deepEqual([silent.socket.paused, b.socket.paused, c.socket.paused], [false, false, false]);
  assert.equal(gate.held, 0);
  b.chunk(1000); // b takes the slot: the open ones with nothing under way are held again
  assert.deepEqual([silent.socket.paused, c.socket.paused], [true, true]);
  assert.equal(gate.held, 2);
});

test('no longer expected, or gone: a held connection is let go and leaves the line', () => {
  const gate = new ReadGate(1);
  const [a, b, c] = [0, 1, 2].map(() => fakeConnection(gate));
  for (const x of [a, b, c]) gate.expect(x.entry, true);
  a.chunk(1000);
  assert.equal(gate.held, 2);
  gate.expect(b.entry, false); // its round closed: it is read again, even with the slot taken
  assert.equal(b.socket.paused, false);
  c.ws.emit('close');
  assert.equal(gate.held, 0);
  assert.equal(gate.isWaiting(c.entry), false);
  gate.expect(c.entry, true); // too late: nothing is held for a closed connection
  assert.equal(gate.held, 0);
  b.chunk(1000); // b starts a message while a holds the slot: queued, as any other
  assert.deepEqual(gate.stats, { active: 1, waiting: 1 });
  a.ws.emit('close');
  assert.deepEqual(gate.stats, { active: 1, waiting: 0 });
  assert.equal(b.socket.paused, false);
});

test('a queued connection is stopped at its handle: its stream reads no further chunk', () => {
  const gate = new ReadGate(1);
  const [a, b] = [0, 1].map(() => fakeConnection(gate));
  a.chunk(1000);
  b.chunk(1000);
  assert.equal(b.socket._handle.reading, true, 'marked reading, so the stream does not restart it');
  assert.equal(b.socket.paused, true, 'but the handle is stopped');
  a.ws.emit('message');
  assert.equal(b.socket.paused, false);
});
