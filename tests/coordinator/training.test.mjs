// Real rounds over the network: a coordinator (`fedwasm serve`, its own
// process) and Node.js clients training on FEMNIST writers; clients killed
// mid-round; the coordinator SIGKILLed and restarted; TLS.
// Run: node --test tests/coordinator/training.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { decodeCheckpoint } from '../../pkg/src/coordinator/index.js';
import { TYPES } from '../../pkg/src/net/frames.js';
import { fw, femnist, w1Task, tokens, fleet, testAccuracy, tempDir, writeTask, serveProcess, until } from './lib.mjs';

const WS = createRequire(new URL('../../pkg/package.json', import.meta.url))('ws');

/**
 * A WebSocket class for one client that remembers its current socket, so a
 * test can cut the connection as a killed tab would (no close frame).
 */
function killable() {
  const holder = { socket: null };
  holder.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      holder.socket = this;
    }
  };
  holder.kill = () => holder.socket?.terminate();
  return holder;
}

/**
 * A WebSocket class whose report frames leave `ms` late (a slow client:
 * its round stays open, with some reports in, for about `ms`).
 */
function slowReports(ms) {
  return class extends WS {
    send(data, ...rest) {
      const bytes = new Uint8Array(data.buffer ?? data, data.byteOffset ?? 0, data.byteLength);
      if (bytes[6] !== TYPES.report) return super.send(data, ...rest);
      setTimeout(() => {
        if (this.readyState === WS.OPEN) super.send(data, ...rest);
      }, ms);
    }
  };
}

async function checkpointOf(dir) {
  return decodeCheckpoint(new Uint8Array(await readFile(join(dir, 'checkpoint.fwco'))));
}

const N = 60;
const data = await femnist(N);
// Full participation: every client is selected every round, so a fault-free
// run is one deterministic FedAvg run (exact, order-independent sums).
const faultTask = (tk) => w1Task({
  rounds: 8,
  clientsPerRound: N,
  overSelection: 1,
  minReports: Math.floor(N / 2),
  reportDeadlineSeconds: 60,
  // Wait for every client (the ones cut reconnect in well under a second).
  selectionTimeoutSeconds: 20,
  clientOptimizer: { name: 'adam', learningRate: 0.001 },
  preprocessing: { epochs: 3, batchSize: 10, shuffleBuffer: 100 },
  tokens: tk,
});

/**
 * Runs `task` with one Node client per writer; with `killShare`, that share
 * of the clients, drawn at random each round, has its connection cut as
 * soon as its task arrives (it reconnects, as a reloaded tab would, and may
 * be selected again next round). Returns the final checkpoint.
 */
async function runFleet(task, { killShare = 0 } = {}) {
  const dir = await tempDir();
  const server = await serveProcess(['--task', await writeTask(dir, task), '--state-dir', join(dir, 'state')]);
  // Victims: a seeded random share of the clients, drawn anew each round,
  // so that which writers a round loses varies as it would in the wild
  // (and the run is the same every time: all else is deterministic).
  const want = Math.round(killShare * task.clientsPerRound * (task.overSelection ?? 1));
  const victims = new Map(); // round -> Set of client indices
  const victimsOf = (round) => {
    if (!victims.has(round)) {
      let seed = 0x9e3779b9 ^ round;
      const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const order = data.ids.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      victims.set(round, new Set(order.slice(0, want)));
    }
    return victims.get(round);
  };
  const clients = data.ids.map((id, i) => {
    const k = killable();
    const c = fw.connect(server.url, { token: task.tokens[i], data: data.train, clientId: id, backend: 'cpu', storage: false, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 }, WebSocket: k.WebSocket });
    c.on('roundstart', ({ round }) => {
      if (victimsOf(round).has(i)) k.kill();
    });
    return c;
  });
  const f = { close: () => clients.forEach((c) => c.close()) };
  try {
    await until(async () => (await server.status()).phase === 'done', { timeoutMs: 180_000, everyMs: 200, what: 'the rounds' });
    const cp = await checkpointOf(join(dir, 'state'));
    return { cp, output: server.output };
  } finally {
    f.close();
    server.kill('SIGTERM');
    await server.exited;
  }
}

test('30% of the selected clients killed mid-round every round: every round closes by its deadline, final accuracy within 0.02 of the fault-free run', async () => {
  const tk = tokens(N);
  const clean = await runFleet(faultTask(tk));
  const faulty = await runFleet(faultTask(tk), { killShare: 0.3 });
  assert.equal(clean.cp.round, 8);
  assert.equal(faulty.cp.round, 8);
  for (const h of faulty.cp.history) {
    assert.ok(h.dropped >= Math.round(0.3 * N) - 1, `round ${h.round}: ${h.dropped} clients dropped`);
    assert.ok(h.seconds <= 60, `round ${h.round} closed after ${h.seconds} s, by its deadline (60 s)`);
  }
  for (const h of clean.cp.history) assert.equal(h.reported, N, `fault-free round ${h.round}: every client reported`);
  const testIds = data.test.clientIds;
  const a0 = await testAccuracy(clean.cp.state, data.test, testIds);
  const a1 = await testAccuracy(faulty.cp.state, data.test, testIds);
  console.log(`test accuracy after 8 rounds: ${a0.toFixed(4)} fault-free, ${a1.toFixed(4)} with 30% killed; rounds with faults (selected/reported/dropped/attempts): ${faulty.cp.history.map((h) => `${h.selected}/${h.reported}/${h.dropped}/${h.attempts}`).join(' ')}`);
  assert.ok(a0 > 0.5, `the fault-free run learns: test accuracy ${a0}`);
  assert.ok(Math.abs(a1 - a0) <= 0.02, `test accuracy ${a1} with faults vs ${a0} without`);
});

/** A free TCP port on loopback (so a restarted coordinator comes back where its clients reconnect). */
async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

test('the coordinator SIGKILLed twice mid-round and restarted: completed rounds and metrics history intact', async () => {
  const n = 12;
  const tk = tokens(n);
  const task = w1Task({ rounds: 6, clientsPerRound: 8, overSelection: 1.5, minReports: 4, reportDeadlineSeconds: 20, selectionTimeoutSeconds: 1, tokens: tk, preprocessing: { epochs: 3, batchSize: 10, shuffleBuffer: 100 } });
  const dir = await tempDir();
  const file = await writeTask(dir, task);
  const state = join(dir, 'state');
  const port = String(await freePort());
  const args = ['--task', file, '--state-dir', state];
  const start = () => serveProcess([...args, '--port', port]);
  let server = await start();
  // Every round selects all 12 clients and closes at 8 reports. Clients
  // 4..11 send their reports 1.5 s late, so each round stays open with the
  // first reports in (from clients 0..3) for over a second: the window the
  // kills aim at, wide whatever the machine's load.
  const errors = [];
  const Slow = slowReports(1500);
  const f = fleet(server.url, {
    data: data.train, ids: data.ids.slice(0, n), tokenList: tk,
    onClient: (c, i) => c.on('error', (e) => errors.push(`client ${i}: ${e.error.message}`)),
    WebSocketFor: (i) => (i < 4 ? undefined : Slow),
  });
  const seen = [];
  let last = null;
  // What a timeout reports: the last status, each client's state, their errors and the coordinator's last lines.
  const describe = () => JSON.stringify({
    status: last && { round: last.round, phase: last.phase, current: last.current, clients: last.clients },
    clientStates: f.clients.map((c) => c.state),
    errors: errors.slice(-20),
    output: server.output.split('\n').slice(-30),
  }, null, 1);
  try {
    for (const after of [1, 3]) {
      await until(async () => {
        const s = (last = await server.status());
        if (s.phase === 'done') throw new Error(`the rounds ended before a kill after round ${after}: ${describe()}`);
        return s.round >= after && s.phase === 'training' && s.current?.reported >= 1;
      }, { timeoutMs: 120_000, everyMs: 10, what: `a round open after round ${after}`, describe });
      server.kill('SIGKILL');
      assert.equal((await server.exited).signal, 'SIGKILL');
      const before = await checkpointOf(state);
      seen.push(before);
      server = await start();
      assert.match(server.output, new RegExp(`resumed from .*: ${before.round} of 6 rounds complete`));
      const s = await server.status();
      assert.equal(s.round, before.round, 'resumes after the last completed round');
      assert.deepEqual(s.history, JSON.parse(JSON.stringify(before.history)), 'the history as checkpointed');
    }
    await until(async () => (last = await server.status()).phase === 'done', { timeoutMs: 180_000, everyMs: 100, what: 'the last round', describe });
    const final = await checkpointOf(state);
    assert.equal(final.round, 6);
    assert.deepEqual(final.history.map((h) => h.round), [1, 2, 3, 4, 5, 6], 'every round once, in order');
    for (const before of seen) {
      assert.deepEqual(final.history.slice(0, before.round), before.history, 'rounds completed before a kill are kept as they were');
    }
    const losses = final.history.map((h) => h.metrics.client_work.train.loss);
    assert.ok(losses.every(Number.isFinite), losses.join(', '));
  } finally {
    f.close();
    server.kill('SIGKILL');
    await server.exited;
  }
});
