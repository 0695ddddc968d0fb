// A federated round through the aggregator's Node package (built by
// tests/build-aggregator.sh into target/pkg-aggregator/), with every binary
// message read and written here in JavaScript from the byte layout that
// crate/fedwasm-protocol/src/encoding.rs documents (and the model
// fingerprint from crate/fedwasm-protocol/src/messages.rs): if those docs
// were not precise enough to write an encoder from, this test would fail.
// Run with: bash tests/build-aggregator.sh && node --test tests/node/aggregator.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
// wasm-bindgen --target web: an ES module, instantiated here from the
// .wasm's bytes (pkg/src/aggregator.js does the same asynchronously).
const agg = await import(new URL('target/pkg-aggregator/fedwasm_aggregator.js', root).href);
agg.initSync({ module: readFileSync(new URL('target/pkg-aggregator/fedwasm_aggregator_bg.wasm', root)) });

// ---- the encodings (encoding.rs "Byte layout") ----

// IEEE CRC-32 (reflected 0xEDB88320, init and final XOR 0xFFFFFFFF).
const CRC_TABLE = Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Little-endian writer of `message = magic[4] version:u32 body crc:u32`. */
class Writer {
  constructor(magic) {
    this.bytes = [];
    for (const ch of magic) this.bytes.push(ch.charCodeAt(0));
    this.u32(2);
  }
  raw(view) {
    for (const b of new Uint8Array(view.buffer, view.byteOffset, view.byteLength)) this.bytes.push(b);
  }
  u32(v) {
    const d = new DataView(new ArrayBuffer(4));
    d.setUint32(0, v, true);
    this.raw(d);
  }
  u64(v) {
    const d = new DataView(new ArrayBuffer(8));
    d.setBigUint64(0, BigInt(v), true);
    this.raw(d);
  }
  f64(v) {
    const d = new DataView(new ArrayBuffer(8));
    d.setFloat64(0, v, true);
    this.raw(d);
  }
  // text = len:u32 utf8[len] zero[pad], pad = (4 - len % 4) % 4
  text(s) {
    const utf8 = new TextEncoder().encode(s);
    this.u32(utf8.length);
    for (const b of utf8) this.bytes.push(b);
    for (let i = 0; i < (4 - (utf8.length % 4)) % 4; i++) this.bytes.push(0);
  }
  // tensors = count:u32 { name:text rank:u32 dim:u32[rank] data:f32[..] }[count]
  tensors(list) {
    this.u32(list.length);
    for (const { name, shape, data } of list) {
      this.text(name);
      this.u32(shape.length);
      for (const d of shape) this.u32(d);
      this.raw(new Float32Array(data));
    }
  }
  // metrics = count:u32 { name:text len:u32 f64[len] }[count]
  metrics(entries) {
    this.u32(entries.length);
    for (const [name, values] of entries) {
      this.text(name);
      this.u32(values.length);
      for (const x of values) this.f64(x);
    }
  }
  finish() {
    this.u32(crc32(this.bytes));
    return Uint8Array.from(this.bytes);
  }
}

/** Bounds-checked little-endian reader over one message's body. */
class Reader {
  constructor(bytes, magic) {
    assert.equal(String.fromCharCode(...bytes.subarray(0, 4)), magic);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(this.view.getUint32(4, true), 2, 'version');
    const end = bytes.length - 4;
    assert.equal(this.view.getUint32(end, true), crc32(bytes.subarray(0, end)), 'crc');
    this.bytes = bytes;
    this.pos = 8;
    this.end = end;
  }
  u32() {
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64() {
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  text() {
    const n = this.u32();
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n + ((4 - (n % 4)) % 4);
    return s;
  }
  tensors() {
    const out = [];
    for (let n = this.u32(); n > 0; n--) {
      const name = this.text();
      const shape = Array.from({ length: this.u32() }, () => this.u32());
      const len = shape.reduce((a, b) => a * b, 1);
      assert.equal(this.pos % 4, 0, 'f32 data is 4-aligned');
      const data = new Float32Array(this.bytes.buffer, this.bytes.byteOffset + this.pos, len);
      this.pos += 4 * len;
      out.push({ name, shape, data: Array.from(data) });
    }
    return out;
  }
  done() {
    assert.equal(this.pos, this.end, 'no trailing bytes before the crc');
  }
}

// messages.rs: FNV-1a 64 over, per variable, name, 0, rank and dims as u64 LE, group index.
function fingerprint(variables) {
  const groups = ['global_trainable', 'global_non_trainable', 'local_trainable', 'local_non_trainable'];
  const bytes = [];
  const u64 = (v) => {
    const d = new DataView(new ArrayBuffer(8));
    d.setBigUint64(0, BigInt(v), true);
    bytes.push(...new Uint8Array(d.buffer));
  };
  for (const v of variables) {
    bytes.push(...new TextEncoder().encode(v.name), 0);
    u64(v.shape.length);
    for (const d of v.shape) u64(d);
    bytes.push(groups.indexOf(v.group));
  }
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

// ---- the process ----

const variables = [
  { name: 'dense/kernel', shape: [3, 2], group: 'global_trainable' },
  { name: 'dense/bias', shape: [2], group: 'global_trainable' },
  { name: 'user/embedding', shape: [1, 2], group: 'local_trainable' },
];
const spec = JSON.stringify({
  name: 'weighted_fed_avg',
  work: {
    type: 'train',
    client_optimizer: { rule: { type: 'sgd' }, learning_rate: 0.1 },
    proximal_strength: null,
  },
  weighting: 'NUM_EXAMPLES',
  server_optimizer: { rule: { type: 'sgd' }, learning_rate: 1.0 },
  variables,
  metrics: ['num_examples', 'num_batches', 'loss'],
  seed: 5,
});
const initial = [
  { name: 'dense/kernel', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] },
  { name: 'dense/bias', shape: [2], data: [0.5, -0.5] },
];

function weightsFile(tensors) {
  const w = new Writer('FWWT');
  w.tensors(tensors);
  return w.finish();
}

// FWUP: round_id fingerprint client_key weight:f64 flags reserved metrics update.
function update({ round, fp, key, weight, examples, loss, tensors, flags = 0 }) {
  const w = new Writer('FWUP');
  w.u64(round);
  w.u64(fp);
  w.u64(key);
  w.f64(weight);
  w.u32(flags);
  w.u32(0);
  w.metrics([
    ['loss', [loss * examples, examples]],
    ['num_batches', [1]],
    ['num_examples', [examples]],
  ]);
  w.tensors(tensors);
  return w.finish();
}

function refused(fn, reason) {
  assert.throws(fn, (err) => {
    assert.equal(err.code, 'refused', err.message);
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

test('a round in JS: task out, hand-encoded FWUP in, FWCK and metrics back', () => {
  assert.match(agg.version(), /^\d+\.\d+\.\d+/);
  const state = agg.initialState(spec, weightsFile(initial));
  assert.equal(String.fromCharCode(...state.subarray(0, 4)), 'FWCK');

  const round = new agg.ServerRound(spec, state);
  assert.equal(round.roundId, 0n);
  assert.equal(round.accepted, 0);

  // The task's FWTK header, read by hand.
  const key = 7n;
  const task = round.task(key, '{"ops":[{"op":"batch","size":20}]}');
  const r = new Reader(task, 'FWTK');
  const roundId = r.u64();
  const fp = r.u64();
  assert.equal(roundId, 0n);
  assert.equal(fp, fingerprint(variables), 'the fingerprint of messages.rs');
  assert.equal(r.u64(), key);
  r.u64(); // seed
  const config = JSON.parse(r.text());
  assert.deepEqual(config.plan, { ops: [{ op: 'batch', size: 20, drop_remainder: false }] });
  assert.equal(config.work.type, 'train');
  assert.equal(config.weighting, 'NUM_EXAMPLES');
  const global = r.tensors();
  assert.deepEqual(r.tensors(), []); // no non-trainable variables
  r.done();
  assert.deepEqual(global, initial);

  // The client's update: its weights minus the global ones.
  const delta = global.map(({ name, shape, data }) => ({ name, shape, data: data.map(() => 0.25) }));
  const good = { round: roundId, fp, key, weight: 10, examples: 10, loss: 0.5, tensors: delta };

  // Refused, each for its reason, and nothing changes; check() says the
  // same without accepting.
  const wrongShape = [delta[0], { name: 'dense/bias', shape: [3], data: [0, 0, 0] }];
  for (const [bad, reason] of [
    [update({ ...good, round: 1n }), 'round_id'],
    [update({ ...good, fp: fp ^ 1n }), 'fingerprint'],
    [update({ ...good, weight: 3 }), 'weight'],
    [update({ ...good, tensors: wrongShape }), 'structure'],
  ]) {
    refused(() => round.check(bad), reason);
    refused(() => round.accept(bad), reason);
  }
  assert.equal(round.accepted, 0);
  // A corrupt message is bad data, not a refusal.
  const corrupt = update(good);
  corrupt[corrupt.length - 1] ^= 1;
  assert.throws(() => round.check(corrupt), (err) => err.code === 'bad_data' && /checksum/.test(err.message));
  assert.throws(() => round.accept(corrupt), (err) => err.code === 'bad_data' && /checksum/.test(err.message));

  round.check(update(good));
  round.check(update(good));
  assert.equal(round.accepted, 0, 'check accepts nothing');
  round.accept(update(good));
  assert.equal(round.accepted, 1);
  refused(() => round.check(update(good)), 'duplicate');
  refused(() => round.accept(update(good)), 'duplicate');

  const { state: next, metrics } = round.finish();
  const m = JSON.parse(metrics);
  assert.deepEqual(m.client_work.train, { loss: 0.5, num_batches: 1, num_examples: 10 });
  assert.equal(m.client_work.non_finite_updates, 0);
  assert.equal(m.finalizer.update_non_finite, 0);
  assert.deepEqual(m.aggregator, { mean_value: {}, mean_weight: {} });
  refused(() => round.accept(update(good)), 'closed');
  refused(() => round.check(update(good)), 'closed');

  // The new state is an FWCK checkpoint: JSON header, then the weights
  // moved by SGD at rate 1 to global + mean delta.
  const c = new Reader(next, 'FWCK');
  const header = JSON.parse(c.text());
  assert.equal(header.finalizer.round, 1);
  assert.equal(header.evaluation, false);
  assert.equal(header.finalizer.server_optimizer.optimizer, 'sgd');
  const trainable = c.tensors();
  assert.deepEqual(
    trainable,
    initial.map(({ name, shape, data }) => ({ name, shape, data: data.map((x) => Math.fround(x + 0.25)) })),
  );
  assert.deepEqual(c.tensors(), []); // non-trainable
  assert.deepEqual(c.tensors(), []); // plain SGD has no slots
  c.done();

  // The next round starts from it.
  const second = new agg.ServerRound(spec, next);
  assert.equal(second.roundId, 1n);
});

test('configuration errors are thrown with a code and name the field', () => {
  const w = weightsFile(initial);
  assert.throws(
    () => agg.initialState(spec.replace('"seed"', '"sede"'), w),
    (err) => err.code === 'bad_data' && /unknown field `sede`/.test(err.message),
  );
  assert.throws(
    () => agg.initialState(spec.replace('"type":"sgd"', '"type":"sgdd"'), w),
    (err) => err.code === 'bad_data' && /unknown variant `sgdd`/.test(err.message),
  );
  const round = new agg.ServerRound(spec, agg.initialState(spec, w));
  assert.throws(
    () => round.task(1n, '{"ops":[{"op":"batch","size":0}]}'),
    (err) => err.code === 'invalid_argument' && /batch size/.test(err.message),
  );
  assert.throws(() => agg.setLimits('{"max_message_bytes":10,"x":1}'), (err) => err.code === 'bad_data');
  agg.setLimits('{"max_message_bytes":64}');
  try {
    assert.throws(() => new agg.ServerRound(spec, agg.initialState(spec, w)), (err) => err.code === 'limit');
  } finally {
    agg.setLimits('{}');
  }
});

test('many rounds of a larger model: the same bits as computed here', () => {
  // 3 x 4096 + 4096 parameters, 3 clients a round, 12 rounds: the
  // allocator reuses (and splits) its blocks round after round.
  const big = [
    { name: 'dense/kernel', shape: [3, 4096], group: 'global_trainable' },
    { name: 'dense/bias', shape: [4096], group: 'global_trainable' },
  ];
  const bigSpec = spec
    .replace(JSON.stringify(variables), JSON.stringify(big))
    .replace('"learning_rate":1}', '"learning_rate":0.5}');
  let weights = big.map(({ name, shape }) => ({
    name,
    shape,
    data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.fround((i % 7) - 3)),
  }));
  let state = agg.initialState(bigSpec, weightsFile(weights));
  const fp = fingerprint(big);
  for (let round = 0n; round < 12n; round++) {
    const r = new agg.ServerRound(bigSpec, state);
    // Client k sends delta k/4 everywhere with k examples: the mean is
    // (1*1 + 2*2 + 3*3) / 4 / 6 = 14/24, an exact sum rounded once to f64
    // (as here), then to f32 for the server optimizer.
    let sum = 0;
    for (const k of [1, 2, 3]) {
      r.task(BigInt(k), '');
      const tensors = weights.map(({ name, shape, data }) => ({ name, shape, data: data.map(() => k / 4) }));
      r.accept(update({ round, fp, key: BigInt(k), weight: k, examples: k, loss: 1, tensors }));
      sum += k * (k / 4);
    }
    const mean = sum / 6;
    ({ state } = r.finish());
    // SGD at 0.5 on the gradient -mean: w + 0.5 * mean, in f32.
    weights = weights.map(({ name, shape, data }) => ({
      name,
      shape,
      data: data.map((x) => Math.fround(x - Math.fround(0.5) * Math.fround(-Math.fround(mean)))),
    }));
  }
  const c = new Reader(state, 'FWCK');
  assert.equal(JSON.parse(c.text()).finalizer.round, 12);
  assert.deepEqual(c.tensors(), weights);
});

test('accept(update, maxNorm): an update over the L2 bound is refused with reason norm', () => {
  const state = agg.initialState(spec, weightsFile(initial));
  const round = new agg.ServerRound(spec, state);
  const fp = fingerprint(variables);
  // Kernel 3 and 4, bias 12: the L2 norm over both tensors is 13.
  const tensors = [
    { name: 'dense/kernel', shape: [3, 2], data: [3, 0, 0, 4, 0, 0] },
    { name: 'dense/bias', shape: [2], data: [0, 12] },
  ];
  const u = update({ round: 0n, fp, key: 1n, weight: 10, examples: 10, loss: 0.5, tensors });
  assert.throws(
    () => round.accept(u, 12.5),
    (err) => {
      assert.equal(err.code, 'refused', err.message);
      assert.equal(err.reason, 'norm', err.message);
      assert.match(err.message, /L2 norm 13\b.*bound 12\.5/);
      return true;
    },
  );
  assert.equal(round.accepted, 0);
  // The round's own reasons come first.
  refused(() => round.accept(update({ round: 1n, fp, key: 1n, weight: 10, examples: 10, loss: 0.5, tensors }), 1), 'round_id');
  // Not a number >= 0: invalid.
  for (const bad of [NaN, -1]) {
    assert.throws(() => round.accept(u, bad), (err) => err.code === 'invalid_argument' && /maxNorm/.test(err.message));
  }
  // At the bound (13 is not over 13), and with no bound: accepted.
  round.accept(u, 13 + 1e-9);
  const other = update({ round: 0n, fp, key: 2n, weight: 10, examples: 10, loss: 0.5, tensors });
  round.accept(other, undefined);
  assert.equal(round.accepted, 2);
  const { state: next } = round.finish();
  const c = new Reader(next, 'FWCK');
  c.text();
  const got = c.tensors();
  // Both accepted updates are the same, so the mean is that update.
  for (const [i, t] of got.entries()) {
    for (const [j, x] of t.data.entries()) {
      assert.ok(Math.abs(x - (initial[i].data[j] + tensors[i].data[j])) < 1e-6, `${t.name}[${j}] = ${x}`);
    }
  }
  // free() releases the wasm memory now; the object is unusable after.
  assert.equal(typeof round.free, 'function');
  round.free();
  const r2 = new agg.ServerRound(spec, state);
  r2.free();
  assert.throws(() => r2.accepted);
});
