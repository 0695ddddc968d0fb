// 'fedwasm/aggregator' as the tarball installs it: the wasm is in the
// package's files, loads once, runs a round, and its errors are
// FedwasmErrors. (tests/node/aggregator.test.mjs tests the rounds
// themselves, byte by byte.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FedwasmError } from 'fedwasm';
import { loadAggregator } from 'fedwasm/aggregator';

const spec = JSON.stringify({
  name: 'weighted_fed_avg',
  work: { type: 'train', client_optimizer: { rule: { type: 'sgd' }, learning_rate: 0.1 }, proximal_strength: null },
  weighting: 'NUM_EXAMPLES',
  server_optimizer: { rule: { type: 'sgd' }, learning_rate: 1.0 },
  variables: [{ name: 'bias', shape: [2], group: 'global_trainable' }],
  metrics: ['num_examples', 'num_batches', 'loss'],
  seed: 1,
});

// FWWT v2 of one tensor `bias` [2] = [1, 2] (encoding.rs "Byte layout").
function weights() {
  const bytes = [...'FWWT'].map((c) => c.charCodeAt(0));
  const u32 = (v) => bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  u32(2);
  u32(1);
  u32(4);
  bytes.push(...'bias'.split('').map((c) => c.charCodeAt(0)));
  u32(1);
  u32(2);
  bytes.push(...new Uint8Array(new Float32Array([1, 2]).buffer));
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  u32((c ^ 0xffffffff) >>> 0);
  return Uint8Array.from(bytes);
}

test('loadAggregator: cached, a round, FedwasmErrors', async () => {
  const agg = await loadAggregator();
  assert.equal(await loadAggregator(), agg);
  assert.match(agg.version(), /^\d+\.\d+\.\d+/);
  const round = new agg.ServerRound(spec, agg.initialState(spec, weights()));
  assert.equal(round.roundId, 0n);
  assert.equal(String.fromCharCode(...round.task(3n).subarray(0, 4)), 'FWTK');
  // check() refuses what accept() refuses, the same way.
  for (const method of ['accept', 'check']) {
    assert.throws(
      () => round[method](new Uint8Array(16)),
      (e) => e instanceof FedwasmError && e.code === 'bad_data',
    );
    assert.throws(
      () => round[method](new Uint8Array(16), '1'),
      (e) => e instanceof FedwasmError && e.code === 'invalid_argument' && /maxNorm/.test(e.message),
    );
  }
  const { state, metrics } = round.finish();
  assert.equal(String.fromCharCode(...state.subarray(0, 4)), 'FWCK');
  assert.equal(JSON.parse(metrics).client_work.train.num_examples, 0);
  assert.throws(() => round.accept(new Uint8Array(16)), (e) => e instanceof FedwasmError);
  round.free();
  assert.throws(
    () => new agg.ServerRound('{', state),
    (e) => e instanceof FedwasmError && e.code === 'bad_data',
  );
});
