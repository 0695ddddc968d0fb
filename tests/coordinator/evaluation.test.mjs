// The task's evaluation schedule: after every `every` training rounds and
// after the last, a federated evaluation round of the current model on the
// clients' held-out examples (connect's testData), recorded in that round's
// history entry and checkpoint. Run: node --test tests/coordinator/evaluation.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../../pkg/src/coordinator/index.js';
import { femnist, fleet, fw, reconTask, tempDir, testAccuracy, tokens, until, w1Task } from './lib.mjs';
import { CheckpointStore } from '../../pkg/src/coordinator/checkpoint.js';

test('evaluation rounds after rounds 2 and 3 of 3 (every 2, and the last), on the clients\' test examples', async () => {
  const n = 6;
  const { train, test: testData, ids } = await femnist(n);
  const tk = tokens(n);
  const dir = await tempDir('fedwasm-eval-');
  const log = [];
  const server = await serve({
    port: 0,
    stateDir: dir,
    log: (l) => log.push(l),
    task: w1Task({ rounds: 3, clientsPerRound: n, overSelection: 1, minReports: n, tokens: tk, evaluation: { every: 2 } }),
  });
  const f = fleet(server.url, { data: train, testData, ids, tokenList: tk });
  try {
    const { history } = await server.done;
    assert.equal(history.length, 3);
    assert.equal(history[0].evaluation, undefined, 'no evaluation after round 1');
    for (const h of history.slice(1)) {
      const e = h.evaluation;
      assert.ok(e && !e.abandoned, `an evaluation after round ${h.round}: ${JSON.stringify(e)}`);
      assert.equal(e.reported, n);
      const m = e.metrics.client_work.eval.current_round_metrics;
      const heldOut = ids.reduce((a, id) => a + testData.numExamples(id), 0);
      assert.equal(m.num_examples, heldOut, 'evaluated on the test examples of every client');
      assert.ok(m.sparse_categorical_accuracy >= 0 && m.sparse_categorical_accuracy <= 1);
    }
    // The same accuracy as evaluating the final model centrally on those clients.
    const central = await testAccuracy(server.coordinator.state, testData, ids);
    const federated = history[2].evaluation.metrics.client_work.eval.current_round_metrics.sparse_categorical_accuracy;
    assert.ok(Math.abs(central - federated) < 1e-9, `federated ${federated} vs central ${central}`);
    // In the checkpoint too.
    const cp = await new CheckpointStore(dir).load();
    assert.deepEqual(cp.history.map((h) => Boolean(h.evaluation)), [false, true, true]);
    assert.ok(log.some((l) => /evaluation after round 3: 6 reports/.test(l)), log.join('\n'));
    await until(() => f.clients.every((c) => c.state === 'done'), { what: 'clients done' });
  } finally {
    f.close();
    await server.close();
  }
});

test('FedRecon: an evaluation round after each round reconstructs on part of each client\'s ratings and evaluates the rest; the loss falls', async () => {
  const users = 4;
  const data = await fw.ClientData.syntheticRatings({ users, items: 30, rank: 2, ratingsPerUser: 30, noise: 0.3, seed: 2 });
  const tk = tokens(users);
  const server = await serve({ port: 0, log: () => {}, task: reconTask(users, { rounds: 2, tokens: tk, evaluation: { every: 1 } }) });
  const f = fleet(server.url, { data, testData: data, ids: data.clientIds, tokenList: tk });
  try {
    const { history } = await server.done;
    assert.equal(history.length, 2);
    const ratings = data.clientIds.reduce((a, id) => a + data.numExamples(id), 0);
    const losses = history.map((h) => {
      const e = h.evaluation;
      assert.ok(e && !e.abandoned, `an evaluation after round ${h.round}: ${JSON.stringify(e)}`);
      assert.equal(e.reported, users);
      const m = e.metrics.client_work.eval.current_round_metrics;
      // Reconstruction takes part of each client's ratings; the rest are evaluated.
      assert.ok(m.num_examples > 0 && m.num_examples < ratings, `${m.num_examples} of ${ratings} ratings evaluated`);
      assert.ok(Number.isFinite(m.loss) && m.loss > 0, `evaluation loss after round ${h.round}: ${m.loss}`);
      return m.loss;
    });
    assert.ok(losses[1] < losses[0], `the evaluation loss falls as the model trains: ${losses.join(' -> ')}`);
    await until(() => f.clients.every((c) => c.state === 'done'), { what: 'clients done' });
  } finally {
    f.close();
    await server.close();
  }
});
