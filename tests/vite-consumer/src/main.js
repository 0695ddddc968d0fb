// What a user writes: `import ... from 'fedwasm'`, resolved by Vite from
// node_modules (the packed tarball). Vite must follow the package's
// `new URL('../wasm/fedwasm_bg.wasm', import.meta.url)` and
// `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`.
import { ready, ClientData, models, optimizers, algorithms, sampleClients, WorkerPool } from 'fedwasm';

const ROUNDS = 3;
const status = document.getElementById('status');
const table = document.getElementById('rounds');

async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function main() {
  await ready();
  const train = await ClientData.femnistDigits();
  const pool = await WorkerPool.create({ size: 2 });
  const process = algorithms.buildWeightedFedAvg({
    model: models.softmaxRegression(),
    clientOptimizer: optimizers.sgd({ learningRate: 0.02 }),
    backend: 'cpu',
    pool,
  });
  let state = await process.initialize();
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    status.textContent = `round ${round + 1} of ${ROUNDS}…`;
    const ids = sampleClients(train.clientIds, 8, { seed: 0, round });
    const t0 = performance.now();
    const out = await process.next(state, ids.map((id) => train.createDataset(id).repeat(5).shuffle(100, { seed: 1 }).batch(20)));
    state = out.state;
    const m = out.metrics.client_work.train;
    const row = { round: round + 1, loss: m.loss, accuracy: m.sparse_categorical_accuracy, examples: m.num_examples, backend: out.backend.kind, ms: performance.now() - t0 };
    rounds.push({ ...row, digest: await sha256(state.toBytes()) });
    const tr = table.insertRow();
    tr.dataset.round = String(row.round);
    for (const v of [row.round, row.loss.toFixed(4), row.accuracy.toFixed(4), row.examples, row.backend, row.ms.toFixed(0)]) tr.insertCell().textContent = String(v);
  }
  pool.close();
  status.textContent = `done: ${ROUNDS} rounds in a pool of ${pool.size} workers`;
  return rounds;
}

main().then(
  (rounds) => {
    window.result = { rounds };
    document.documentElement.dataset.done = 'ok';
  },
  (e) => {
    window.result = { error: `${e.code ?? e.name}: ${e.message}` };
    status.textContent = `failed: ${window.result.error}`;
    document.documentElement.dataset.done = 'error';
  },
);
