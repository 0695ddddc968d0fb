// The same W1 through the JS API (wasm32, Node) and through the native CLI
// (`fedwasm simulate --workload w1 --save-state FILE`): the per-round
// training metrics and the final weights agree within 1e-5.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ready, ClientData, models, optimizers, algorithms, LearningProcessState } from 'fedwasm';

const TOL = 1e-5;
const cli = process.env.FEDWASM_CLI;

test('W1: JS API = native CLI within 1e-5', async () => {
  assert.ok(cli, 'FEDWASM_CLI must name the native CLI (tests/pkg-node/run.sh builds target/release/fedwasm)');
  const dir = mkdtempSync(join(tmpdir(), 'fedwasm-w1-'));
  try {
    const saved = join(dir, 'w1.fwck');
    const lines = execFileSync(cli, ['simulate', '--workload', 'w1', '--save-state', saved], {
      env: { ...process.env, FEDWASM_BACKEND: 'cpu' },
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const native = lines.filter((l) => typeof l.round === 'number' && l.metrics?.client_work?.train);
    assert.equal(native.length, 10);

    await ready();
    const train = await ClientData.femnistDigits();
    const p = algorithms.buildWeightedFedAvg({
      model: models.softmaxRegression(),
      clientOptimizer: optimizers.sgd({ learningRate: 0.02 }),
      serverOptimizer: optimizers.sgd({ learningRate: 1.0 }),
      seed: 42,
      backend: 'cpu',
    });
    let state = await p.initialize();
    const datasets = train.clientIds.map((id) => train.createDataset(id).repeat(5).shuffle(100, { seed: 1 }).batch(20));
    for (let r = 0; r < 10; r++) {
      const out = await p.next(state, datasets);
      state = out.state;
      const js = out.metrics.client_work.train;
      const nat = native[r].metrics.client_work.train;
      assert.equal(js.num_examples, nat.num_examples, `round ${r + 1}`);
      const rel = Math.abs(js.loss - nat.loss) / Math.abs(nat.loss);
      assert.ok(rel <= TOL, `round ${r + 1}: loss ${js.loss} (JS) vs ${nat.loss} (CLI)`);
      assert.ok(Math.abs(js.sparse_categorical_accuracy - nat.sparse_categorical_accuracy) <= TOL, `round ${r + 1}: accuracy`);
    }
    const theirs = p.getModelWeights(LearningProcessState.fromBytes(readFileSync(saved)));
    const ours = p.getModelWeights(state);
    let d = 0;
    let m = 0;
    ours.trainable.forEach((t, i) => {
      t.data.forEach((v, j) => {
        const w = theirs.trainable[i].data[j];
        d = Math.max(d, Math.abs(v - w));
        m = Math.max(m, Math.abs(w));
      });
    });
    console.log(`final weights, JS vs CLI: max|d|/max|w| = ${(d / m).toExponential(2)}`);
    assert.ok(d / m <= TOL, `final weights differ by ${d / m}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
