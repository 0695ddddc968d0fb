// The browser side of pkg-browser.test.mjs: the package as a plain ES module
// (no bundler, no import map), and the scenarios the test calls through
// `page.evaluate(() => window.fw.NAME(options))`. Each returns plain data;
// states are compared as SHA-256 digests of `state.toBytes()`.
import * as fedwasm from '/pkg/src/index.js';

const { ready, ClientData, models, optimizers, algorithms, sampleClients, WorkerPool, backendInfo, FedwasmError } = fedwasm;
const status = document.getElementById('status');

async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

await ready();
const train = await ClientData.femnistDigits();

/** Round `round`'s clients: 8 of the 10 writers, `repeat` epochs, shuffled, batches of 20. */
function datasets(round, repeat) {
  const ids = sampleClients(train.clientIds, 8, { seed: 0, round });
  return ids.map((id) => train.createDataset(id).repeat(repeat).shuffle(100, { seed: 1 }).batch(20));
}

function build(pool, backend = 'cpu') {
  return algorithms.buildWeightedFedAvg({
    model: models.softmaxRegression(),
    clientOptimizer: optimizers.sgd({ learningRate: 0.02 }),
    backend,
    pool,
  });
}

async function withPool(size, fn) {
  const pool = size === 0 ? null : await WorkerPool.create({ size });
  try {
    return await fn(pool);
  } finally {
    pool?.close();
  }
}

const finite = (m) => Number.isFinite(m.client_work.train.loss) && Number.isFinite(m.client_work.train.sparse_categorical_accuracy);

/**
 * `ClientData.fromImages` on PNG files drawn here: for each label, a dark
 * digit-like bar on white, named `<label>_<k>.png`, two per label; one client
 * per file-name parity. Returns ids, counts, label counts and pixel stats.
 */
async function images() {
  const files = [];
  for (const label of [0, 3, 7]) {
    for (let k = 0; k < 2; k++) {
      const c = new OffscreenCanvas(56, 56);
      const g = c.getContext('2d');
      g.fillStyle = 'white';
      g.fillRect(0, 0, 56, 56);
      g.fillStyle = 'black';
      g.fillRect(8 + label * 4, 4, 8, 48); // a vertical stroke: ink
      const blob = await c.convertToBlob({ type: 'image/png' });
      files.push(new File([blob], `${label}_${k}.png`, { type: 'image/png' }));
    }
  }
  const data = await ClientData.fromImages(files, { size: 28, clientFrom: (_f, i) => (i % 2 ? 'odd' : 'even') });
  const first = data.examples('even', { count: 1 });
  let refused = null;
  try {
    await ClientData.fromImages([new File([new Uint8Array([1, 2, 3])], '5_broken.png', { type: 'image/png' })]);
  } catch (e) {
    refused = { name: e.name, code: e.code, message: e.message };
  }
  return {
    ids: data.clientIds,
    spec: data.elementSpec,
    counts: data.clientIds.map((id) => data.numExamples(id)),
    labels: data.labelCounts('even'),
    min: Math.min(...first.x),
    max: Math.max(...first.x),
    mean: first.x.reduce((a, b) => a + b, 0) / first.x.length,
    refused,
  };
}

window.fw = {
  images,
  version: () => fedwasm.version(),
  cores: () => navigator.hardwareConcurrency,
  hasGpu: () => typeof navigator.gpu === 'object',

  backendInfo: (backend) => backendInfo({ backend }),

  /**
   * `rounds` FedAvg rounds from the initial state with a pool of `poolSize`
   * workers (0: no pool). Returns each round's state digest, loss, accuracy
   * and backend, and the pool's replaced workers.
   */
  async rounds({ poolSize, backend = 'cpu', rounds = 2, repeat = 5, yieldEvery } = {}) {
    return withPool(poolSize, async (pool) => {
      const process = build(pool, backend);
      let state = await process.initialize();
      const out = [];
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        const res = await process.next(state, datasets(r, repeat), yieldEvery === undefined ? {} : { yieldEvery });
        state = res.state;
        out.push({
          digest: await sha256(state.toBytes()),
          round: state.round,
          ms: performance.now() - t0,
          loss: res.metrics.client_work.train.loss,
          accuracy: res.metrics.client_work.train.sparse_categorical_accuracy,
          examples: res.metrics.client_work.train.num_examples,
          finite: finite(res.metrics),
          backend: res.backend,
        });
      }
      const weights = process.getModelWeights(state).trainable.map((w) => Array.from(w.data));
      return { rounds: out, replacedWorkers: pool?.replacedWorkers ?? 0, weights };
    });
  },

  /**
   * One round in a pool of 2 in which worker 0 is made to crash (an uncaught
   * error) while it trains client 0: `crashWorker(0)` from the first
   * progress event of client 0, with `yieldEvery: 1, yieldGapMs: 0` so that the worker
   * reads its messages between batches. Returns the digest, the replaced
   * workers, and whether client 0's progress went back (its rerun).
   */
  async crash({ repeat = 5 } = {}) {
    return withPool(2, async (pool) => {
      const process = build(pool);
      const state = await process.initialize();
      let crashed = false;
      let last = 0;
      let rerun = false;
      let crashedAt = null;
      const res = await process.next(state, datasets(0, repeat), {
        yieldEvery: 1,
        yieldGapMs: 0,
        onProgress: (e) => {
          if (e.client !== 0 || e.clientFinished) return;
          const ex = e.clientProgress.examples;
          if (!crashed) {
            crashed = true;
            crashedAt = ex;
            pool.crashWorker(0);
          } else if (ex <= last) rerun = true; // the rerun starts again from its first batch
          last = ex;
        },
      });
      return { digest: await sha256(res.state.toBytes()), replacedWorkers: pool.replacedWorkers, rerun, crashedAt, finite: finite(res.metrics) };
    });
  },

  /**
   * A round aborted from its progress (after `after` examples) must reject
   * with a FedwasmError, code `cancelled`; the state passed in then still
   * runs a round, whose digest is returned.
   */
  async abort({ poolSize, repeat = 5, after = 100 } = {}) {
    return withPool(poolSize, async (pool) => {
      const process = build(pool);
      const state = await process.initialize();
      const controller = new AbortController();
      let error = null;
      const t0 = performance.now();
      let abortedAt = null;
      try {
        await process.next(state, datasets(0, repeat), {
          signal: controller.signal,
          onProgress: (e) => {
            if (abortedAt === null && e.examples >= after) {
              abortedAt = performance.now();
              controller.abort();
            }
          },
        });
      } catch (e) {
        error = { isFedwasmError: e instanceof FedwasmError, code: e.code, message: e.message };
      }
      const rejectedMs = performance.now() - (abortedAt ?? t0);
      const again = await process.next(state, datasets(0, repeat));
      return { error, aborted: abortedAt !== null, rejectedMs, digest: await sha256(again.state.toBytes()), round: again.state.round };
    });
  },

  /**
   * The page thread while a round runs: a 5 ms setInterval counts ticks and
   * the longest gap between them; a PerformanceObserver records long tasks.
   * The test also profiles this thread (CDP) for training code.
   */
  async responsiveness({ poolSize, repeat = 20, yieldEvery } = {}) {
    return withPool(poolSize, async (pool) => {
      const process = build(pool);
      const state = await process.initialize();
      let ticks = 0;
      let maxGap = 0;
      let last = performance.now();
      const timer = setInterval(() => {
        const t = performance.now();
        maxGap = Math.max(maxGap, t - last);
        last = t;
        ticks += 1;
      }, 5);
      // Long tasks (> 50 ms) of this thread: the browser's own measure of
      // what blocks input. The timer's gaps also count time the OS gave
      // the thread no core (2 cores, 2 workers).
      const longTasks = [];
      const observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) longTasks.push(e.duration);
      });
      observer.observe({ type: 'longtask' });
      const t0 = performance.now();
      const opts = yieldEvery === undefined ? {} : { yieldEvery };
      const res = await process.next(state, datasets(0, repeat), opts);
      const ms = performance.now() - t0;
      clearInterval(timer);
      maxGap = Math.max(maxGap, performance.now() - last);
      // Entries are delivered asynchronously: let the last ones arrive.
      await new Promise((ok) => setTimeout(ok, 50));
      for (const e of observer.takeRecords()) longTasks.push(e.duration);
      observer.disconnect();
      return {
        ms,
        ticks,
        maxGap,
        longTasks: longTasks.length,
        longestTask: Math.max(0, ...longTasks),
        finite: finite(res.metrics),
        examples: res.metrics.client_work.train.num_examples,
      };
    });
  },
};

status.textContent = `ready: fedwasm ${fedwasm.version()}, ${train.clientIds.length} clients`;
document.documentElement.dataset.ready = '1';
