// Bad input gives FedwasmErrors with codes and a message naming what was
// wrong, never a dead instance: a round still runs after every one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ready, ClientData, models, optimizers, algorithms, LearningProcessState, FedwasmError, WorkerPool } from 'fedwasm';

await ready();

const fails = (code, pattern) => (e) => {
  assert.ok(e instanceof FedwasmError, `a FedwasmError, got ${e?.name}: ${e?.message}`);
  assert.equal(e.code, code, e.message);
  if (pattern) assert.match(e.message, pattern);
  return true;
};

async function stillWorks() {
  const train = await ClientData.femnistDigits();
  const p = algorithms.buildWeightedFedAvg({ model: models.softmaxRegression() });
  const out = await p.next(await p.initialize(), [train.createDataset(train.clientIds[0]).batch(20)]);
  assert.equal(out.state.round, 1);
}

test('corrupt and truncated LEAF', async () => {
  const good = JSON.stringify({ users: ['a'], num_samples: [1], user_data: { a: { x: [Array(784).fill(0)], y: [1] } } });
  await assert.rejects(ClientData.fromLeaf(good.slice(0, good.length / 2)), fails('bad_data'));
  await assert.rejects(ClientData.fromLeaf(good.replace('"num_samples":[1]', '"num_samples":[2]')), fails('bad_data', /num_samples/));
  await assert.rejects(ClientData.fromLeaf(JSON.stringify({ users: ['a'], num_samples: [1], user_data: { a: { x: [[1, 2]], y: [1] } } })), fails('bad_data', /784/));
  await assert.rejects(ClientData.fromLeaf(42), fails('invalid_argument'));
  await assert.rejects(ClientData.fromMovieLens('1\t2\n'), fails('bad_data'));
  await stillWorks();
});

test('wrong shapes', async () => {
  await assert.rejects(
    ClientData.fromArrays({ a: { x: new Float32Array(5), y: new Int32Array([0, 1]) } }, { shape: [2] }),
    (e) => e instanceof FedwasmError && /client "a"/.test(e.message),
  );
  await assert.rejects(ClientData.fromArrays({ a: { x: [1, 2], y: new Int32Array([0]) } }, { shape: [2] }), fails('invalid_argument', /Float32Array/));
  // A dataset of 2 features for a model of 784.
  const small = await ClientData.fromArrays({ a: { x: new Float32Array(4), y: new Int32Array([0, 1]) } }, { shape: [2] });
  const p = algorithms.buildWeightedFedAvg({ model: models.softmaxRegression() });
  await assert.rejects(p.next(await p.initialize(), [small.createDataset('a').batch(2)]), (e) => e instanceof FedwasmError && e.code === 'dataset');
  // Weights of the wrong shape.
  const s = await p.initialize();
  const w = p.getModelWeights(s);
  w.trainable[0] = { ...w.trainable[0], shape: [10, 784] };
  assert.throws(() => p.setModelWeights(s, w), (e) => e instanceof FedwasmError && /784/.test(e.message));
  await stillWorks();
});

test('unknown option names, NaN and other bad numbers', async () => {
  assert.throws(() => optimizers.sgd({ learningRate: NaN }), fails('invalid_argument', /learningRate/));
  assert.throws(() => optimizers.sgd({ learningRate: -1 }), fails('invalid_argument'));
  assert.throws(() => optimizers.adam({ lr: 0.1 }), fails('invalid_argument', /unknown option "lr"/));
  assert.throws(() => optimizers.sgd({ momentum: NaN }), fails('invalid_argument', /momentum/));
  assert.throws(() => models.softmaxRegression({ classes: 0 }), fails('invalid_argument', /classes/));
  assert.throws(() => models.cnnDropout({ clases: 10 }), fails('invalid_argument', /unknown option "clases"/));
  assert.throws(() => models.fromSpec('{"not": "a model"}'), (e) => e instanceof FedwasmError);
  const model = models.softmaxRegression();
  assert.throws(() => algorithms.buildWeightedFedAvg({ model, clientOptimiser: optimizers.sgd() }), fails('invalid_argument', /clientOptimiser/));
  assert.throws(() => algorithms.buildWeightedFedAvg({ model, backend: 'gpu' }), fails('invalid_argument', /backend/));
  assert.throws(() => algorithms.buildFedProx({ model }), fails('invalid_argument', /proximalStrength/));
  assert.throws(() => algorithms.buildFedProx({ model, proximalStrength: NaN }), fails('invalid_argument'));
  assert.throws(() => algorithms.buildWeightedFedAvg({ model: {} }), fails('invalid_argument', /model/));
  assert.throws(() => algorithms.buildFedRecon({ model: models.matrixFactorization({ items: 3, dim: 2 }), split: { reconEpochs: 0 } }), fails('invalid_argument'));
  const data = await ClientData.femnistDigits();
  assert.throws(() => data.createDataset(data.clientIds[0]).batch(0), fails('invalid_argument', /size/));
  assert.throws(() => data.createDataset(data.clientIds[0]).shuffle(10, { sed: 1 }), fails('invalid_argument'));
  const p = algorithms.buildWeightedFedAvg({ model });
  await assert.rejects(p.next(await p.initialize(), [data.createDataset(data.clientIds[0])], { onProgres: () => {} }), fails('invalid_argument', /onProgres/));
  await assert.rejects(WorkerPool.create({ size: 0 }), fails('invalid_argument', /size/));
  await stillWorks();
});

test('corrupt state bytes, and a state of another process', async () => {
  const p = algorithms.buildWeightedFedAvg({ model: models.softmaxRegression() });
  const bytes = (await p.initialize()).toBytes();
  const flipped = bytes.slice();
  flipped[100] ^= 0xff;
  assert.throws(() => LearningProcessState.fromBytes(flipped), fails('bad_data', /checksum|crc/i));
  assert.throws(() => LearningProcessState.fromBytes(bytes.slice(0, 20)), fails('bad_data'));
  assert.throws(() => LearningProcessState.fromBytes('nope'), fails('invalid_argument'));
  const other = algorithms.buildWeightedFedAvg({ model: models.softmaxRegression({ inputs: 4, classes: 2 }) });
  const data = await ClientData.femnistDigits();
  await assert.rejects(
    other.next(LearningProcessState.fromBytes(bytes), [data.createDataset(data.clientIds[0]).batch(20)]),
    fails('state_not_assignable'),
  );
  await stillWorks();
});

test('a diverging client is zeroed and counted, as in TFF', async () => {
  // Features near f32's largest value: the first step's weights times the
  // next batch's features overflow, and the update turns NaN.
  const x = new Float32Array(16).fill(3e38);
  const data = await ClientData.fromArrays(
    { a: { x, y: new Int32Array(8) }, b: { x: new Float32Array(16).fill(0.5), y: new Int32Array(8) } },
    { shape: [2], classes: 2 },
  );
  const p = algorithms.buildWeightedFedAvg({ model: models.softmaxRegression({ inputs: 2, classes: 2 }), clientOptimizer: optimizers.sgd({ learningRate: 1 }) });
  const out = await p.next(await p.initialize(), ['a', 'b'].map((id) => data.createDataset(id).batch(2)));
  assert.equal(out.metrics.client_work.non_finite_updates, 1, JSON.stringify(out.metrics));
  assert.ok(p.getModelWeights(out.state).trainable.every((t) => t.data.every(Number.isFinite)));
});
