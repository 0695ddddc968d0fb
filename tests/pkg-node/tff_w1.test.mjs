// TFF's golden W1 run (shared/fixtures/tff-w1, TFF 0.87) through the JS
// API in Node: each of the 10 rounds, started from TFF's previous global
// weights and fed TFF's own example order, matches TFF's weights within
// 1e-5 (max|d| / max|w|) and its training metrics (loss within 1e-5
// relative, accuracy within 1e-5 absolute, counts exactly); FedEval of TFF's
// final weights matches on the train datasets and the test digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ready, ClientData, models, optimizers, algorithms } from 'fedwasm';

const TOL = 1e-5;
const fixture = join(process.env.FEDWASM_REPO, '..', 'shared', 'fixtures', 'tff-w1');
const order = JSON.parse(readFileSync(join(fixture, 'order.json'), 'utf8'));
const tff = JSON.parse(readFileSync(join(fixture, 'metrics.json'), 'utf8'));
const raw = readFileSync(join(fixture, 'weights.f32'));
const floats = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const PER_ROUND = 784 * 10 + 10;
const tffWeights = (r) => floats.subarray(r * PER_ROUND, (r + 1) * PER_ROUND);

await ready();

/** Each client's examples in TFF's order (the same every round), as ClientData. */
async function orderedClients(train) {
  const clients = {};
  for (const id of order.clients) {
    const { x, y } = train.examples(id, { count: train.numExamples(id) });
    const idx = order.order[id];
    const xo = new Float32Array(idx.length * 784);
    const yo = new Int32Array(idx.length);
    idx.forEach((i, k) => {
      xo.set(x.subarray(i * 784, (i + 1) * 784), k * 784);
      yo[k] = y[i];
    });
    clients[id] = { x: xo, y: yo };
  }
  return ClientData.fromArrays(clients, { shape: [784], classes: 10 });
}

function withValues(like, flat) {
  let at = 0;
  return {
    trainable: like.trainable.map((t) => {
      const data = flat.slice(at, at + t.data.length);
      at += t.data.length;
      return { ...t, data };
    }),
    nonTrainable: like.nonTrainable,
  };
}

const flatOf = (w) => Float32Array.from(w.trainable.flatMap((t) => Array.from(t.data)));

function relMax(got, want) {
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return d / m;
}

function checkMetrics(what, got, want) {
  assert.equal(got.num_examples, want.num_examples, `${what}: examples`);
  assert.equal(got.num_batches, want.num_batches, `${what}: batches`);
  const loss = Math.abs(got.loss - want.loss) / Math.abs(want.loss);
  const acc = Math.abs(got.sparse_categorical_accuracy - want.sparse_categorical_accuracy);
  assert.ok(loss <= TOL, `${what}: loss ${got.loss} vs TFF ${want.loss} (rel ${loss})`);
  assert.ok(acc <= TOL, `${what}: accuracy ${got.sparse_categorical_accuracy} vs TFF ${want.sparse_categorical_accuracy}`);
  return { loss, acc };
}

test('W1 through the JS API matches TFF 0.87 round by round, and its FedEval', async () => {
  const train = await ClientData.femnistDigits();
  const testDigits = await ClientData.femnistDigits({ split: 'test' });
  assert.deepEqual(train.clientIds, order.clients);
  const ordered = await orderedClients(train);
  const datasets = order.clients.map((id) => ordered.createDataset(id).batch(order.batch_size));
  const model = models.softmaxRegression();
  const process = algorithms.buildWeightedFedAvg({
    model,
    clientOptimizer: optimizers.sgd({ learningRate: 0.02 }),
    serverOptimizer: optimizers.sgd({ learningRate: 1.0 }),
    backend: 'cpu',
  });
  let state = await process.initialize();
  const like = process.getModelWeights(state);
  assert.deepEqual(flatOf(like), tffWeights(0), 'round 0: the zeros init');
  let worst = 0;
  for (const want of tff.train_rounds) {
    state = process.setModelWeights(state, withValues(like, tffWeights(want.round - 1)));
    const out = await process.next(state, datasets);
    const d = relMax(flatOf(process.getModelWeights(out.state)), tffWeights(want.round));
    const m = checkMetrics(`round ${want.round}`, out.metrics.client_work.train, want);
    console.log(`round ${want.round}: weights ${d.toExponential(2)} loss ${m.loss.toExponential(2)} accuracy ${m.acc.toExponential(2)}`);
    assert.ok(d <= TOL, `round ${want.round}: weights differ by ${d}`);
    worst = Math.max(worst, d);
    state = out.state;
  }
  console.log(`worst round: ${worst.toExponential(2)}`);

  const evaluation = algorithms.buildFedEval({ model, backend: 'cpu' });
  const evalState = evaluation.setModelWeights(await evaluation.initialize(), withValues(like, tffWeights(10)));
  const onTrain = await evaluation.next(evalState, datasets);
  checkMetrics('fedeval train', onTrain.metrics.client_work.eval.current_round_metrics, tff.fedeval_train);
  const onTest = await evaluation.next(
    evalState,
    order.clients.map((id) => testDigits.createDataset(id).batch(order.batch_size)),
  );
  checkMetrics('fedeval test', onTest.metrics.client_work.eval.current_round_metrics, tff.fedeval_test);
});
