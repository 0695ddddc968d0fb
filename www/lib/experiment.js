// One federated training run of the demo, apart from the page: loads the
// task's data, builds the processes with fedwasm's API, and runs rounds,
// each followed by a federated evaluation (FedEval on the test split of
// the FEMNIST writers; FedReconEval on held-out users for ratings).
// Rounds are reported through callbacks; `signal` stops a round between
// batches (the engine's `cancelled` error), `beforeRound` can hold the run
// between rounds (pause).
import { ClientData, algorithms, models, optimizers, sampleClients } from '../../pkg/src/index.js';
import { TASKS } from './params.js';

export const FEMNIST_PACK = new URL('../data/femnist_digits_100.bin', import.meta.url);

/** The task's data, loaded once per source. */
const cache = new Map();

/**
 * `{ kind, train, test, trainIds, testIds, describe }`: the population is the
 * first `params.clients` clients.
 * @param {object} params see params.js
 * @param {File | null} file a MovieLens ratings file (source `movielens`)
 */
export async function loadData(params, file = null) {
  const kind = TASKS[params.task].data;
  if (kind === 'femnist') {
    let packs = cache.get('femnist');
    if (!packs) {
      const response = await fetch(FEMNIST_PACK);
      if (!response.ok) throw new Error(`fetching ${FEMNIST_PACK} failed: HTTP ${response.status}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      packs = {
        train: await ClientData.fromFemnistPack(bytes, { split: 'train' }),
        test: await ClientData.fromFemnistPack(bytes, { split: 'test' }),
      };
      cache.set('femnist', packs);
    }
    const trainIds = packs.train.clientIds.slice(0, params.clients);
    const keep = new Set(trainIds);
    return {
      kind,
      train: packs.train,
      test: packs.test,
      trainIds,
      testIds: packs.test.clientIds.filter((id) => keep.has(id)),
      describe: `FEMNIST digits of ${trainIds.length} writers (of ${packs.train.clientIds.length} in the pack)`,
    };
  }
  let data;
  let what;
  if (params.source === 'movielens') {
    if (!file) throw new Error('choose a MovieLens ratings file (u.data or ratings.dat) first');
    const key = `movielens:${file.name}:${file.size}:${file.lastModified}`;
    data = cache.get(key);
    if (!data) {
      data = await ClientData.fromMovieLens(file, { maxExamplesPerUser: 300 });
      cache.set(key, data);
    }
    what = `MovieLens ${file.name}`;
  } else {
    const key = `synthetic:${params.clients}:${params.items}:${params.seed}`;
    data = cache.get(key);
    if (!data) {
      data = await ClientData.syntheticRatings({
        users: params.clients,
        items: params.items,
        rank: 2,
        ratingsPerUser: Math.min(30, params.items),
        noise: 0.3,
        seed: params.seed + 1,
      });
      cache.set(key, data);
    }
    what = `synthetic ratings (rank 2, noise 0.3, ${params.items} items)`;
  }
  // Users are clients; every fifth one is held out for evaluation.
  const users = data.clientIds.slice(0, params.clients);
  const testIds = users.filter((_, i) => i % 5 === 4);
  const trainIds = users.filter((_, i) => i % 5 !== 4);
  return {
    kind,
    train: data,
    test: data,
    trainIds,
    testIds,
    numItems: data.numItems,
    describe: `${what}: ${trainIds.length} training users, ${testIds.length} held out`,
  };
}

function sgd(learningRate) {
  return optimizers.sgd({ learningRate });
}

/** The training and evaluation processes of `params.task`. */
export function buildProcesses(params, data, pool) {
  const common = { backend: params.backend, pool };
  const task = TASKS[params.task];
  if (task.data === 'femnist') {
    const model = params.model === 'cnn' ? models.cnnDropout() : models.softmaxRegression();
    const opts = {
      ...common,
      model,
      clientOptimizer: sgd(params.clientLr),
      serverOptimizer: sgd(params.serverLr),
      seed: params.seed,
    };
    const train =
      task.algorithm === 'fedprox'
        ? algorithms.buildFedProx({ ...opts, proximalStrength: params.mu })
        : algorithms.buildWeightedFedAvg(opts);
    return { model, train, evaluate: algorithms.buildFedEval({ ...common, model }) };
  }
  const model = models.matrixFactorization({ items: data.numItems, dim: params.dim });
  const split = { reconEpochs: params.reconEpochs, splitDataset: true };
  return {
    model,
    train: algorithms.buildFedRecon({
      ...common,
      model,
      reconstructionOptimizer: sgd(params.reconLr),
      clientOptimizer: sgd(params.clientLr),
      serverOptimizer: sgd(params.serverLr),
      split,
      seed: params.seed,
    }),
    evaluate: algorithms.buildFedReconEval({ ...common, model, reconstructionOptimizer: sgd(params.reconLr), split, seed: params.seed }),
  };
}

/** The page's few figures from TFF's metrics: loss, and accuracy or RMSE. */
export function summarize(kind, m) {
  if (!m) return null;
  if (kind === 'femnist') return { loss: m.loss, accuracy: m.sparse_categorical_accuracy, examples: m.num_examples };
  return { loss: m.loss, rmse: Math.sqrt(m.mean_squared_error), accuracy: m.rating_accuracy, examples: m.num_examples };
}

/**
 * Runs `params.rounds` rounds. Calls `onRound(record)` after round 0 (the
 * initial model, evaluation only) and after every round:
 * `{ round, seconds, train, eval, backend, metrics: { train, eval } }`.
 * Throws the engine's `cancelled` FedwasmError when `signal` aborts.
 */
export async function runExperiment({ params, data, pool, signal, beforeRound, onProgress, onRound }) {
  const { train: trainProcess, evaluate, model } = buildProcesses(params, data, pool);
  const shuffle = data.kind === 'femnist' ? 100 : 300;
  let state = await trainProcess.initialize();
  let evalState = await evaluate.initialize();

  const runEval = async (round) => {
    evalState = evaluate.setModelWeights(evalState, trainProcess.getModelWeights(state));
    const datasets = data.testIds.map((id) => data.test.createDataset(id).batch(params.batch));
    const res = await evaluate.next(evalState, datasets, {
      signal,
      onProgress: (e) => onProgress?.({ ...e, round, phase: 'evaluate' }),
    });
    evalState = res.state;
    return res.metrics.client_work.eval.current_round_metrics;
  };

  const t0 = performance.now();
  const initial = await runEval(0);
  onRound({
    round: 0,
    seconds: (performance.now() - t0) / 1000,
    train: null,
    eval: summarize(data.kind, initial),
    backend: null,
    metrics: { train: null, eval: initial },
  });
  for (let round = 1; round <= params.rounds; round++) {
    await beforeRound?.(round);
    if (signal?.aborted) break;
    const ids = sampleClients(data.trainIds, Math.min(params.perRound, data.trainIds.length), { seed: params.seed, round: round - 1 });
    const datasets = ids.map((id) =>
      data.train
        .createDataset(id)
        .repeat(params.epochs)
        .shuffle(shuffle, { seed: params.seed * 100003 + round })
        .batch(params.batch),
    );
    const start = performance.now();
    const res = await trainProcess.next(state, datasets, {
      signal,
      onProgress: (e) => onProgress?.({ ...e, round, phase: 'train' }),
    });
    state = res.state;
    const trainSeconds = (performance.now() - start) / 1000;
    const evalMetrics = await runEval(round);
    onRound({
      round,
      seconds: trainSeconds,
      clients: ids.length,
      train: summarize(data.kind, res.metrics.client_work.train),
      eval: summarize(data.kind, evalMetrics),
      backend: res.backend,
      metrics: { train: res.metrics.client_work.train, eval: evalMetrics },
    });
  }
  return { model: { name: model.name, parameters: model.parameters } };
}
