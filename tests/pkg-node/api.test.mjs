// The package's API in Node, as installed from the tarball: data, models,
// optimizers, every builder, state bytes, weights, sampling, backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ready, backendInfo, version, ClientData, models, optimizers, algorithms,
  LearningProcessState, sampleClients, FedwasmError,
} from 'fedwasm';

await ready();

test('backendInfo: cpu when asked, cpu for auto without a GPU, an error for webgpu without an adapter', async () => {
  assert.deepEqual(Object.keys(await backendInfo({ backend: 'cpu' })).sort(), ['adapter', 'kind', 'software']);
  assert.equal((await backendInfo({ backend: 'cpu' })).kind, 'cpu');
  assert.equal((await backendInfo()).kind, 'cpu');
  await assert.rejects(backendInfo({ backend: 'webgpu' }), (e) => e instanceof FedwasmError && e.code === 'backend_unavailable');
  assert.match(version(), /^\d+\.\d+\.\d+$/);
});

test('ClientData: the embedded FEMNIST digits, counts and lazy plans', async () => {
  const train = await ClientData.femnistDigits();
  const test_ = await ClientData.femnistDigits({ split: 'test' });
  assert.equal(train.clientIds.length, 10);
  assert.equal(train.clientIds[0], 'f0424_27');
  assert.equal(train.numExamples('f0424_27'), 64);
  assert.equal(test_.numExamples('f0424_27'), 2);
  const counts = train.labelCounts('f0424_27');
  assert.equal(counts.length, 10);
  assert.equal(counts.reduce((a, b) => a + b, 0), 64);
  assert.deepEqual(train.elementSpec, { xShape: [784], label: { classes: 10 } });
  const { x, y } = train.examples('f0424_27', { start: 2, count: 3 });
  assert.equal(x.length, 3 * 784);
  assert.equal(y.length, 3);
  const base = train.createDataset('f0424_27');
  const planned = base.repeat(5).shuffle(100, { seed: 1 }).batch(20);
  assert.deepEqual(base.plan, { ops: [] }, 'plans are immutable');
  assert.deepEqual(planned.plan.ops.map((o) => o.op), ['repeat', 'shuffle', 'batch']);
  assert.throws(() => train.createDataset('nobody'), (e) => e.code === 'dataset');
});

test('ClientData: LEAF from text, bytes and objects; MovieLens; CSV with chosen features; typed arrays', async () => {
  const doc = {
    users: ['b', 'a'],
    num_samples: [1, 2],
    user_data: {
      a: { x: [Array(784).fill(0.5), Array(784).fill(1)], y: [3, 12] },
      b: { x: [Array(784).fill(0)], y: [7] },
    },
  };
  for (const source of [JSON.stringify(doc), new TextEncoder().encode(JSON.stringify(doc)), doc]) {
    const d = await ClientData.fromLeaf(source);
    assert.deepEqual(d.clientIds, ['a', 'b']);
    assert.deepEqual(d.elementSpec.label, { classes: 62 });
  }
  const digits = await ClientData.fromLeaf([doc], { digitsOnly: true });
  assert.equal(digits.numExamples('a'), 1);

  const ml = await ClientData.fromMovieLens('1\t10\t5\t0\n1\t20\t3\t0\n2\t10\t4\t0\n');
  assert.deepEqual(ml.clientIds.length, 2);
  assert.equal(ml.numItems, 2);
  assert.equal(ml.elementSpec.label, 'real');

  const csv = await ClientData.fromCsv('who,a,b,skip,label\nx,1,2,9,0\nx,3,4,9,1\ny,5,6,9,1\n', {
    client: 'who', label: 'label', features: ['b', 'a'], classes: 2,
  });
  assert.deepEqual(csv.clientIds, ['x', 'y']);
  assert.deepEqual(Array.from(csv.examples('x', { count: 2 }).x), [2, 1, 4, 3]);

  const arrays = await ClientData.fromArrays(
    { u: { x: new Float32Array([1, 2, 3, 4]), y: new Int32Array([0, 2]) }, v: { x: new Float32Array([5, 6]), y: new Int32Array([1]) } },
    { shape: [2] },
  );
  assert.deepEqual(arrays.elementSpec, { xShape: [2], label: { classes: 3 } }, 'classes from the largest Int32 label');
  assert.deepEqual(arrays.labelCounts('u'), [1, 0, 1]);
  const real = await ClientData.fromArrays({ u: { x: new Float32Array([1]), y: new Float32Array([0.5]) } }, { shape: [1] });
  assert.equal(real.elementSpec.label, 'real');
});

test('models and optimizers: checked, with TFF defaults', () => {
  assert.equal(models.softmaxRegression().parameters, 7850);
  assert.equal(models.softmaxRegression({ inputs: 4, classes: 3 }).parameters, 15);
  assert.equal(models.cnnDropout().parameters, 1199882);
  assert.equal(models.matrixFactorization({ items: 10, dim: 4 }).name, 'matrix_factorization');
  const spec = models.softmaxRegression().toJSON();
  assert.equal(models.fromSpec(spec).parameters, 7850);
  assert.equal(models.fromSpec(JSON.stringify(spec)).parameters, 7850);
  assert.deepEqual(optimizers.sgd().toJSON(), { rule: { type: 'sgd', momentum: null, nesterov: false }, learning_rate: 0.01 });
  assert.equal(optimizers.adam().toJSON().learning_rate, 0.001);
  assert.equal(optimizers.adam().toJSON().rule.epsilon, 1e-7);
  assert.equal(optimizers.rmsprop().toJSON().rule.decay, 0.9);
  assert.equal(optimizers.yogi({ learningRate: 0.1 }).toJSON().rule.epsilon, 1e-3);
  assert.equal(optimizers.adagrad({ learningRate: 0.1 }).toJSON().rule.initial_accumulator_value, 0.1);
  assert.throws(() => optimizers.yogi({}), (e) => e.code === 'invalid_argument' && /required/.test(e.message));
  assert.ok(optimizers.sgd({ learningRate: { exponentialDecay: { initial: 0.1, decayRate: 0.5, decayRounds: 2 } } }));
});

test('sampleClients: deterministic by (seed, round), distinct, within the ids', () => {
  const ids = Array.from({ length: 50 }, (_, i) => `c${i}`);
  const a = sampleClients(ids, 10, { seed: 3, round: 7 });
  assert.deepEqual(a, sampleClients(ids, 10, { seed: 3, round: 7 }));
  assert.notDeepEqual(a, sampleClients(ids, 10, { seed: 3, round: 8 }));
  assert.equal(new Set(a).size, 10);
  assert.ok(a.every((id) => ids.includes(id)));
  assert.throws(() => sampleClients(ids, 51), (e) => e instanceof FedwasmError);
});

test('FedAvg: rounds lower the loss; state bytes round-trip; weights get and set', async () => {
  const train = await ClientData.femnistDigits();
  const process = algorithms.buildWeightedFedAvg({
    model: models.softmaxRegression(),
    clientOptimizer: optimizers.sgd({ learningRate: 0.02 }),
  });
  assert.equal(process.name, 'weighted_fed_avg');
  let state = await process.initialize();
  assert.equal(state.round, 0);
  const datasets = train.clientIds.map((id) => train.createDataset(id).repeat(5).shuffle(100, { seed: 1 }).batch(20));
  const losses = [];
  for (let r = 0; r < 3; r++) {
    const out = await process.next(state, datasets);
    state = out.state;
    losses.push(out.metrics.client_work.train.loss);
    assert.equal(out.metrics.client_work.train.num_examples, 5 * 766);
    assert.equal(out.backend.kind, 'cpu');
  }
  assert.equal(state.round, 3);
  assert.ok(losses[2] < losses[0], `loss falls: ${losses}`);
  const again = LearningProcessState.fromBytes(state.toBytes());
  assert.equal(again.round, 3);
  const w = process.getModelWeights(again);
  assert.deepEqual(w.trainable.map((t) => [t.name, t.shape]), [['dense/kernel', [784, 10]], ['dense/bias', [10]]]);
  assert.ok(w.trainable[0].data instanceof Float32Array);
  const zeroed = process.setModelWeights(again, {
    trainable: w.trainable.map((t) => ({ ...t, data: new Float32Array(t.data.length) })),
    nonTrainable: w.nonTrainable,
  });
  assert.ok(process.getModelWeights(zeroed).trainable[0].data.every((v) => v === 0));
  assert.equal(zeroed.round, 3, 'the round is kept');
});

test('every builder: FedProx, unweighted FedAvg, FedEval, FedRecon + FedReconEval, stateful FedAvg', async () => {
  const train = await ClientData.femnistDigits();
  const ids = train.clientIds.slice(0, 3);
  const ds = ids.map((id) => train.createDataset(id).batch(20));
  const model = models.softmaxRegression();
  const prox = algorithms.buildFedProx({ model, proximalStrength: 0.1, clientOptimizer: optimizers.sgd({ learningRate: 0.1 }) });
  const proxOut = await prox.next(await prox.initialize(), ds);
  assert.ok(Number.isFinite(proxOut.metrics.client_work.train.loss));
  const unweighted = algorithms.buildUnweightedFedAvg({ model });
  assert.equal((await unweighted.next(await unweighted.initialize(), ds)).state.round, 1);
  const evaluation = algorithms.buildFedEval({ model });
  const evalState = evaluation.setModelWeights(await evaluation.initialize(), prox.getModelWeights(proxOut.state));
  const ev = (await evaluation.next(evalState, ds)).metrics.client_work.eval.current_round_metrics;
  assert.equal(ev.num_examples, ids.reduce((n, id) => n + train.numExamples(id), 0));

  const ratings = await ClientData.syntheticRatings({ users: 12, items: 30, ratingsPerUser: 20, seed: 1 });
  const mf = models.matrixFactorization({ items: ratings.numItems, dim: 4 });
  const recon = algorithms.buildFedRecon({
    model: mf,
    reconstructionOptimizer: optimizers.sgd({ learningRate: 0.1 }),
    clientOptimizer: optimizers.sgd({ learningRate: 0.5 }),
    split: { reconEpochs: 2, splitDataset: true },
  });
  let rs = await recon.initialize();
  const rds = ratings.clientIds.map((id) => ratings.createDataset(id).batch(5));
  const rl = [];
  for (let r = 0; r < 5; r++) {
    const out = await recon.next(rs, rds);
    rs = out.state;
    rl.push(out.metrics.client_work.train.loss);
  }
  assert.ok(rl[4] < rl[0], `FedRecon loss falls: ${rl}`);
  const reconEval = algorithms.buildFedReconEval({ model: mf });
  const re = await reconEval.next(reconEval.setModelWeights(await reconEval.initialize(), recon.getModelWeights(rs)), rds);
  assert.ok(Number.isFinite(re.metrics.client_work.eval.current_round_metrics.loss));

  const stateful = algorithms.buildStatefulFedAvg({ model: mf });
  assert.ok(stateful.isStateful);
  const s0 = await stateful.initialize();
  const first = await stateful.next(s0, rds.slice(0, 4));
  assert.equal(first.clientStates.length, 4);
  assert.ok(first.clientStates.every((s) => s instanceof Uint8Array));
  const second = await stateful.next(first.state, rds.slice(0, 4), first.clientStates);
  assert.equal(second.state.round, 2);
  assert.notDeepEqual(second.clientStates[0], first.clientStates[0], 'the local variables moved');
});
