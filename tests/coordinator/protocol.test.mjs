// The coordinator against hostile and careless clients: the task file, the
// frame reader, authentication, and every kind of bad message during a
// round (each refused with an error frame and one log line while the round
// completes). Run: node --test tests/coordinator/protocol.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { serve, parseTask, readTaskFile } from '../../pkg/src/coordinator/index.js';
import { encodeFrame, decodeFrame, HEADER_BYTES } from '../../pkg/src/net/frames.js';
import { engine } from '../../pkg/src/engine.js';
import { femnist, w1Task, tokens, fleet, tempDir, until } from './lib.mjs';
import { decodeUpdate, encodeUpdate } from './wire.mjs';

// The package's own `ws` (pkg/node_modules): what its coordinator speaks.
const WebSocket = createRequire(new URL('../../pkg/package.json', import.meta.url))('ws');
const data = await femnist(6);

/** A client speaking frames by hand: `send(frame | bytes)`, `next(type)`. */
function rawClient(url) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  const waiters = [];
  let closed = null;
  ws.on('message', (d) => {
    const f = decodeFrame(new Uint8Array(d));
    inbox.push(f);
    for (const w of [...waiters]) w();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: String(reason) };
    for (const w of [...waiters]) w();
  });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    opened,
    inbox,
    get closed() {
      return closed;
    },
    send: (f) => ws.send(f instanceof Uint8Array ? f : encodeFrame(f)),
    /** The next received frame of `type` (consumed), or null once closed. */
    next(type, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${type} frame within ${timeoutMs} ms`)), timeoutMs);
        const check = () => {
          const i = inbox.findIndex((f) => f.type === type);
          if (i >= 0) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve(inbox.splice(i, 1)[0]);
          } else if (closed) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve(null);
          }
        };
        waiters.push(check);
        check();
      });
    },
    whenClosed: () => until(() => closed, { what: 'close' }),
  };
}

function logSink() {
  const lines = [];
  const log = (line) => lines.push(line);
  log.lines = lines;
  return log;
}

test('task file: unknown fields, missing fields and bad values are refused by path', async () => {
  const ok = w1Task();
  assert.equal(parseTask(ok).selectCount, 13);
  const bad = (task, re) => assert.throws(() => parseTask(task), (e) => e.code === 'invalid_argument' && re.test(e.message), String(re));
  bad({ ...ok, color: 'red' }, /task\.color: unknown field/);
  bad({ ...ok, limits: { messageBytes: 2048, speed: 1 } }, /limits\.speed: unknown field/);
  bad({ ...ok, preprocessing: { batchSize: 0 } }, /preprocessing\.batchSize: must be a whole number >= 1/);
  const { rounds: _r, ...noRounds } = ok;
  bad(noRounds, /rounds: is required/);
  bad({ ...ok, algorithm: 'fedSgd' }, /algorithm: must be one of/);
  bad({ ...ok, minReports: 11 }, /minReports.*at most clientsPerRound/);
  bad({ ...ok, overSelection: 0.5 }, /overSelection: must be a number >= 1/);
  bad({ ...ok, clientOptimizer: { name: 'sgd', learningRate: 0.1, warp: 9 } }, /clientOptimizer\.warp: unknown field/);
  bad({ ...ok, proximalStrength: 0.1 }, /proximalStrength: is not an option of weightedFedAvg/);
  bad({ ...ok, tokens: ['short'] }, /tokens\[0\]: must be a string of at least 8/);
  bad({ ...ok, tokens: ['aaaaaaaa', 'aaaaaaaa'] }, /tokens\[1\]: appears twice/);
  bad({ ...ok, model: { builtin: 'resnet' } }, /model\.builtin: must be one of/);
  // tokensFile, relative to the task file; the fingerprint ignores tokens and rounds.
  const dir = await tempDir();
  await writeFile(join(dir, 'tokens.txt'), '# clients\naaaaaaaaaa\nbbbbbbbbbb\n');
  const { tokens: _t, ...noTokens } = ok;
  await writeFile(join(dir, 'task.json'), JSON.stringify({ ...noTokens, rounds: 9, tokensFile: 'tokens.txt' }));
  const fromFile = readTaskFile(join(dir, 'task.json'));
  assert.deepEqual(fromFile.tokens, ['aaaaaaaaaa', 'bbbbbbbbbb']);
  assert.equal(fromFile.fingerprint, parseTask(ok).fingerprint);
  assert.notEqual(parseTask({ ...ok, seed: 1 }).fingerprint, parseTask(ok).fingerprint);
});

test('frames: a round trip, and each malformation refused with its reason', () => {
  const f = encodeFrame({ type: 'report', round: 3n, fingerprint: 0xdeadbeefn, meta: { task: 7 }, body: new Uint8Array([1, 2, 3]) });
  const d = decodeFrame(f);
  assert.equal(d.type, 'report');
  assert.equal(d.round, 3n);
  assert.equal(d.fingerprint, 0xdeadbeefn);
  assert.deepEqual(d.meta, { task: 7 });
  assert.deepEqual([...d.body], [1, 2, 3]);
  const refused = (bytes, reason) => assert.throws(() => decodeFrame(bytes), (e) => e.code === 'protocol' && e.reason === reason, reason);
  refused(f.subarray(0, 10), 'truncated');
  refused(f.subarray(0, f.length - 1), 'truncated');
  refused(Uint8Array.from([...f, 0]), 'length');
  const patch = (at, value) => {
    const c = f.slice();
    c[at] = value;
    return c;
  };
  refused(patch(0, 0x58), 'magic');
  refused(patch(4, 9), 'version');
  refused(patch(6, 99), 'type');
  refused(patch(7, 1), 'flags');
  refused(patch(HEADER_BYTES, 0x7b + 1), 'meta'); // the meta's '{' broken
  const big = f.slice();
  new DataView(big.buffer).setUint32(24, 1 << 20, true);
  refused(big, 'meta');
});

test('an unknown token and a second connection with a used token are refused', async () => {
  const tk = tokens(2);
  const log = logSink();
  const server = await serve({ task: w1Task({ tokens: tk }), port: 0, log });
  try {
    const stranger = rawClient(server.url);
    await stranger.opened;
    stranger.send({ type: 'hello', meta: { token: 'not-a-token-at-all' } });
    const e1 = await stranger.next('error');
    assert.equal(e1.meta.reason, 'unknown_token');
    assert.equal(e1.meta.fatal, true);
    assert.equal((await stranger.whenClosed()).code, 4001);

    const first = rawClient(server.url);
    await first.opened;
    first.send({ type: 'hello', meta: { token: tk[0] } });
    const welcome = await first.next('welcome');
    assert.equal(welcome.meta.clientKey, 0);
    const second = rawClient(server.url);
    await second.opened;
    second.send({ type: 'hello', meta: { token: tk[0] } });
    const e2 = await second.next('error');
    assert.equal(e2.meta.reason, 'token_in_use');
    assert.equal((await second.whenClosed()).code, 4002);
    assert.equal(first.closed, null, 'the first connection stays');
    // Anything before hello is refused, and so is a silent connection.
    const rude = rawClient(server.url);
    await rude.opened;
    rude.send({ type: 'ready' });
    assert.equal((await rude.next('error')).meta.reason, 'unauthenticated');
    // Once the first connection leaves, its token may connect again (a reconnect).
    first.ws.close();
    await first.whenClosed();
    await until(() => server.coordinator.status().clients.connected === 0, { what: 'the first connection to go' });
    const again = rawClient(server.url);
    await again.opened;
    again.send({ type: 'hello', meta: { token: tk[0] } });
    assert.equal((await again.next('welcome')).meta.clientKey, 0);
    again.ws.close();
    assert.ok(log.lines.some((l) => /refused from .*unknown_token/.test(l)));
    assert.ok(log.lines.some((l) => /refused from .*token_in_use/.test(l)));
  } finally {
    await server.close();
  }
});

test('garbage, truncated, oversized, wrong-round, NaN, wrong-shape and too-large updates are each refused while the round completes', async () => {
  const tk = tokens(4);
  const log = logSink();
  const messageBytes = 64 * 1024;
  // One round; 3 honest clients and 1 raw client that misbehaves before it reports properly.
  const task = w1Task({ rounds: 1, clientsPerRound: 4, overSelection: 1, minReports: 4, reportDeadlineSeconds: 60, tokens: tk, limits: { messageBytes, updateNorm: 1e4 } });
  const server = await serve({ task, port: 0, log });
  const honest = fleet(server.url, { data: data.train, ids: data.ids.slice(0, 3), tokenList: tk.slice(0, 3) });
  try {
    const raw = rawClient(server.url);
    await raw.opened;
    raw.send({ type: 'hello', meta: { token: tk[3] } });
    const welcome = await raw.next('welcome');
    raw.send({ type: 'ready' });
    const task1 = await raw.next('task');
    const n = task1.meta.task;
    // The honest update this client would send, from the engine.
    const result = await engine().runClient(welcome.meta.modelSpec, task1.body, data.train.clientBytes(data.ids[3]), undefined, { backend: 'cpu' });
    const good = result.update;
    const report = (body, over = {}) => ({ type: 'report', round: task1.round, fingerprint: task1.fingerprint, meta: { task: n }, body, ...over });
    const expectRefusal = async (what, reason) => {
      const e = await raw.next('error');
      assert.ok(e, `${what}: an error frame`);
      assert.equal(e.meta.reason, reason, `${what}: ${JSON.stringify(e.meta)}`);
    };
    raw.send(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33]));
    await expectRefusal('garbage', 'magic');
    raw.send(encodeFrame(report(good)).subarray(0, 100));
    await expectRefusal('truncated', 'truncated');
    raw.ws.send('a text message');
    await expectRefusal('text', 'text');
    raw.send(report(good, { round: task1.round + 5n }));
    await expectRefusal('wrong round', 'wrong_round');
    raw.send(report(good, { meta: { task: n + 1000 } }));
    await expectRefusal('another task number', 'not_selected');
    const u = decodeUpdate(good);
    const nan = structuredClone(u);
    nan.tensors[0].data[5] = NaN;
    raw.send(report(encodeUpdate(nan)));
    await expectRefusal('NaN', 'non_finite');
    const shape = structuredClone(u);
    shape.tensors[0].dims = [...shape.tensors[0].dims].reverse();
    raw.send(report(encodeUpdate(shape)));
    await expectRefusal('wrong shape', 'structure');
    const huge = structuredClone(u);
    huge.tensors.forEach((t) => t.data.fill(1e3)); // L2 norm about 88,600
    raw.send(report(encodeUpdate(huge)));
    await expectRefusal('an update over limits.updateNorm', 'norm');
    const corrupt = good.slice();
    corrupt[40] ^= 0xff;
    raw.send(report(corrupt));
    const ce = await raw.next('error');
    assert.match(ce.meta.message, /crc|checksum/i, 'a damaged update: its CRC');
    const other = structuredClone(u);
    other.key = 1n;
    raw.send(report(encodeUpdate(other)));
    await expectRefusal("another client's update", 'client_key');
    // Still selected: the honest report is accepted and the round completes.
    raw.send(report(good));
    const ok = await raw.next('accepted');
    assert.equal(ok.meta.task, n);
    const out = await server.done;
    assert.equal(out.round, 1);
    assert.equal(out.history[0].reported, 4);
    assert.ok(out.history[0].refused >= 10, `refusals counted: ${out.history[0].refused}`);
    // A duplicate report after acceptance: refused as late.
    raw.send(report(good));
    await expectRefusal('a second report', 'late');
    // Each refusal has its log line.
    for (const reason of ['magic', 'truncated', 'text', 'wrong_round', 'not_selected', 'non_finite', 'structure', 'norm', 'client_key', 'late']) {
      assert.ok(log.lines.some((l) => l.includes(`: ${reason}: `)), `a log line for ${reason}`);
    }
    // Oversized: refused from its header; the connection closes with 1009.
    const big = rawClient(server.url);
    await big.opened;
    big.send(new Uint8Array(messageBytes + 1));
    assert.equal((await big.whenClosed()).code, 1009);
    raw.ws.close();
  } finally {
    honest.close();
    await server.close();
  }
});

test('stopping the coordinator mid-round, with clients training, ends cleanly', async () => {
  const tk = tokens(4);
  const log = logSink();
  const server = await serve({ task: w1Task({ rounds: 3, clientsPerRound: 4, overSelection: 1, minReports: 4, tokens: tk }), port: 0, log });
  // Slow clients (a yield every batch), so the round is open when it stops.
  const f = fleet(server.url, { data: data.train, ids: data.ids.slice(0, 4), tokenList: tk, yieldEvery: 1, yieldGapMs: 0 });
  try {
    await until(() => server.coordinator.status().phase === 'training', { what: 'a round open' });
    await server.close();
    const out = await server.done;
    assert.equal(out.error, undefined);
    assert.ok(out.round < 3);
    assert.ok(!log.lines.some((l) => /failed|TypeError/.test(l)), log.lines.join('\n'));
  } finally {
    f.close();
  }
});

test('a second coordinator on a port in use fails to start and leaves nothing running', async () => {
  const tk = tokens(2);
  const first = await serve({ task: w1Task({ tokens: tk }), port: 0, log: () => {} });
  try {
    await assert.rejects(serve({ task: w1Task({ tokens: tk }), port: first.port, log: () => {} }), (e) => e.code === 'io' && /in use/.test(e.message));
  } finally {
    await first.close();
  }
});

test('a checkpoint of another task is refused; the same task resumes from it', async () => {
  const tk = tokens(2);
  const dir = await tempDir();
  const task = w1Task({ rounds: 1, clientsPerRound: 2, overSelection: 1, minReports: 2, tokens: tk });
  const first = await serve({ task, port: 0, stateDir: dir, log: () => {} });
  const f = fleet(first.url, { data: data.train, ids: data.ids.slice(0, 2), tokenList: tk });
  await first.done;
  f.close();
  await first.close();
  // Another learning rate: another task.
  const other = { ...task, clientOptimizer: { name: 'sgd', learningRate: 0.5 } };
  await assert.rejects(serve({ task: other, port: 0, stateDir: dir, log: () => {} }), (e) => e.code === 'refused' && e.reason === 'task_fingerprint' && /another task/.test(e.message));
  // The same task with more rounds and new tokens resumes after round 1.
  const lines = [];
  const again = await serve({ task: { ...task, rounds: 2, tokens: tokens(2, 'new') }, port: 0, stateDir: dir, log: (l) => lines.push(l) });
  try {
    assert.equal(again.coordinator.round, 1);
    assert.ok(lines.some((l) => /resumed from .*: 1 of 2 rounds complete/.test(l)), lines.join('\n'));
  } finally {
    await again.close();
  }
});
