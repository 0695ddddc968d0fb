// WorkerPool (worker_threads): the same bits for 0, 1, 2 and 4 workers, a
// dead worker replaced and its client rerun, cancellation that leaves the
// state usable, and progress events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ready, ClientData, models, optimizers, algorithms, sampleClients, WorkerPool, FedwasmError } from 'fedwasm';

await ready();
const train = await ClientData.femnistDigits();
// yieldEvery 1, yieldGapMs 0: a worker hears a crash drill or a cancel after every batch.
const build = (pool) =>
  algorithms.buildWeightedFedAvg({ model: models.softmaxRegression(), clientOptimizer: optimizers.sgd({ learningRate: 0.02 }), backend: 'cpu', pool, yieldEvery: 1, yieldGapMs: 0 });
const datasets = (round) =>
  sampleClients(train.clientIds, 8, { seed: 0, round }).map((id) => train.createDataset(id).repeat(3).shuffle(100, { seed: 1 }).batch(20));
const same = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

async function rounds(pool, n = 2) {
  const p = build(pool);
  let state = await p.initialize();
  for (let r = 0; r < n; r++) state = (await p.next(state, datasets(r))).state;
  return state.toBytes();
}

test('bit-identical with 0, 1, 2 and 4 workers', async () => {
  const inline = await rounds(null);
  for (const size of [1, 2, 4]) {
    const pool = await WorkerPool.create({ size });
    try {
      assert.equal(pool.size, size);
      assert.ok(same(await rounds(pool), inline), `${size} workers give the inline bytes`);
    } finally {
      pool.close();
    }
  }
});

test('a worker that dies mid-client is replaced and its client rerun', async () => {
  const pool = await WorkerPool.create({ size: 2 });
  try {
    const p = build(pool);
    const s0 = await p.initialize();
    let crashed = 0;
    const out = await p.next(s0, datasets(0), {
      onProgress: (e) => {
        if (crashed === 0 && e.clientProgress?.batches === 2) {
          crashed += 1;
          pool.crashWorker(0);
        }
      },
    });
    assert.equal(crashed, 1);
    assert.equal(pool.replacedWorkers, 1);
    const clean = await build(null).next(s0, datasets(0));
    assert.ok(same(out.state.toBytes(), clean.state.toBytes()), 'the result is the fault-free one');
  } finally {
    pool.close();
  }
});

test('a client that kills every worker fails the round with worker_lost, without hanging', async () => {
  const pool = await WorkerPool.create({ size: 1, maxAttempts: 2 });
  try {
    const p = build(pool);
    await assert.rejects(
      p.next(await p.initialize(), datasets(0), {
        onProgress: (e) => {
          if (e.clientProgress?.batches === 1) pool.crashWorker(0);
        },
      }),
      (e) => e instanceof FedwasmError && e.code === 'worker_lost',
    );
  } finally {
    pool.close();
  }
});

test('closing the pool during a round rejects the round (worker_lost), never hangs', async () => {
  const pool = await WorkerPool.create({ size: 2 });
  const p = build(pool);
  await assert.rejects(
    p.next(await p.initialize(), datasets(0), {
      onProgress: (e) => {
        if (e.clientProgress?.batches === 2) pool.close();
      },
    }),
    (e) => e instanceof FedwasmError && e.code === 'worker_lost' && /closed/.test(e.message),
  );
});

for (const size of [0, 2]) {
  test(`cancelling mid-round (${size} workers): code cancelled, the state unchanged and reusable`, async () => {
    const pool = size ? await WorkerPool.create({ size }) : null;
    try {
      const p = build(pool);
      const s0 = await p.initialize();
      const before = s0.toBytes();
      const controller = new AbortController();
      await assert.rejects(
        p.next(s0, datasets(0), {
          signal: controller.signal,
          onProgress: (e) => {
            if (e.clientProgress?.batches === 3) controller.abort();
          },
        }),
        (e) => e instanceof FedwasmError && e.code === 'cancelled',
      );
      assert.ok(same(s0.toBytes(), before));
      const again = await p.next(s0, datasets(0));
      const clean = await build(null).next(s0, datasets(0));
      assert.ok(same(again.state.toBytes(), clean.state.toBytes()), 'the next round is the uninterrupted one');
      await assert.rejects(p.next(s0, datasets(0), { signal: AbortSignal.abort() }), (e) => e.code === 'cancelled');
    } finally {
      pool?.close();
    }
  });
}

test('progress: per batch and per finished client, clients done of selected, examples/s', async () => {
  const pool = await WorkerPool.create({ size: 2 });
  try {
    const events = [];
    const out = await build(pool).next(await build(null).initialize(), datasets(0), { onProgress: (e) => events.push(e) });
    const finished = events.filter((e) => e.clientFinished);
    assert.equal(finished.length, 8);
    assert.deepEqual(finished.map((e) => e.clientsDone), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(events.every((e) => e.clientsTotal === 8));
    const batches = events.filter((e) => !e.clientFinished);
    assert.equal(batches.length, out.metrics.client_work.train.num_batches);
    assert.ok(batches.every((e) => e.clientProgress.batches >= 1 && Number.isFinite(e.clientProgress.loss)));
    const last = events.at(-1);
    assert.equal(last.examples, out.metrics.client_work.train.num_examples);
    assert.ok(last.examplesPerSecond > 0);
  } finally {
    pool.close();
  }
});
