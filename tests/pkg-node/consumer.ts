// A strict TypeScript consumer of the whole public API, type-checked by
// tests/pkg-node/run.sh against the packed tarball's declarations (never
// run: its job is to keep index.d.ts honest and complete).
import {
  ready,
  backendInfo,
  version,
  ClientData,
  Dataset,
  models,
  Model,
  optimizers,
  Optimizer,
  algorithms,
  LearningProcess,
  LearningProcessState,
  WorkerPool,
  sampleClients,
  FedwasmError,
  type BackendInfo,
  type ModelWeights,
  type RoundProgress,
  type RoundResult,
  type StatefulLearningProcess,
} from 'fedwasm';

export async function everything(file: Blob, response: Response): Promise<void> {
  await ready();
  await ready({ wasmUrl: new URL('https://example.invalid/fedwasm_bg.wasm') });
  const info: BackendInfo = await backendInfo({ backend: 'auto' });
  const kind: 'webgpu' | 'cpu' = info.kind;
  const v: string = version();

  const leaf: ClientData = await ClientData.fromLeaf([file, response, '{"users":[]}', new Uint8Array(0)], {
    digitsOnly: true,
    maxClients: 10,
    inkIsOne: false,
  });
  const ml = await ClientData.fromMovieLens('1\t1\t5\t0\n', { maxExamplesPerUser: 300 });
  const csv = await ClientData.fromCsv('c,a,b,y\n0,1,2,1\n', { client: 'c', label: 'y', features: ['a', 1], classes: 2 });
  const arrays = await ClientData.fromArrays(
    { alice: { x: new Float32Array(4), y: new Int32Array([0, 1]) } },
    { shape: [2], classes: 2 },
  );
  const images = await ClientData.fromImages([file], { size: 28, labelFrom: (_f, i) => i % 10, clientFrom: () => 'me' });
  const digits = await ClientData.femnistDigits({ split: 'test' });
  const pack = await ClientData.fromFemnistPack(response, { split: 'train' });
  const ratings = await ClientData.syntheticRatings({ users: 10, items: 20, rank: 2, ratingsPerUser: 5, noise: 0.1, seed: 1 });
  const ids: string[] = leaf.clientIds;
  const n: number = leaf.numExamples(ids[0] ?? '');
  const counts: number[] = leaf.labelCounts('x');
  const spec = leaf.elementSpec;
  const shape: number[] = spec.xShape;
  const items: number | undefined = ml.numItems;
  const sample: { x: Float32Array; y: Float32Array } = digits.examples('x', { start: 0, count: 4 });
  const ds: Dataset = leaf.createDataset('x').repeat(5).shuffle(100, { seed: 1 }).batch(20, { dropRemainder: false }).take(3).skip(1);
  const plan = ds.plan.ops.map((o) => o.op);
  const client: string = ds.clientId;

  const softmax: Model = models.softmaxRegression({ inputs: 784, classes: 10 });
  const cnn = models.cnnDropout({ classes: 10 });
  const mf = models.matrixFactorization({ items: items ?? 1, dim: 8 });
  const custom = models.fromSpec(softmax.toJSON());
  const params: number = cnn.parameters + custom.inputShape.length + mf.parameters;

  const sgd: Optimizer = optimizers.sgd({ learningRate: 0.02, momentum: 0.9, nesterov: true });
  const adam = optimizers.adam({ learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
  const adagrad = optimizers.adagrad({ learningRate: 0.1, initialAccumulatorValue: 0.1, epsilon: 1e-7 });
  const yogi = optimizers.yogi({ learningRate: { exponentialDecay: { initial: 0.1, decayRate: 0.9, decayRounds: 5 } } });
  const rmsprop = optimizers.rmsprop({ learningRate: 0.01, decay: 0.9, epsilon: 1e-7 });
  const optName: string = sgd.name;

  const pool: WorkerPool = await WorkerPool.create({ size: 2, heartbeatTimeoutMs: 60_000, maxAttempts: 3 });
  const size: number = pool.size + pool.replacedWorkers;

  const fedAvg: LearningProcess = algorithms.buildWeightedFedAvg({
    model: softmax,
    clientOptimizer: sgd,
    serverOptimizer: adam,
    clientWeighting: 'numExamples',
    backend: 'webgpu',
    pool,
    yieldEvery: 1,
    seed: 0,
  });
  algorithms.buildUnweightedFedAvg({ model: softmax, clientOptimizer: adagrad, serverOptimizer: yogi });
  algorithms.buildFedProx({ model: softmax, proximalStrength: 0.01, clientOptimizer: rmsprop });
  const evaluation = algorithms.buildFedEval({ model: softmax, backend: 'cpu', pool: null });
  const recon = algorithms.buildFedRecon({
    model: mf,
    reconstructionOptimizer: sgd,
    clientOptimizer: sgd,
    serverOptimizer: sgd,
    split: { reconEpochs: 1, reconStepsMax: null, postReconEpochs: 1, postReconStepsMax: 5, splitDataset: true },
  });
  algorithms.buildFedReconEval({ model: mf, reconstructionOptimizer: sgd, split: { splitDataset: true } });
  const stateful: StatefulLearningProcess = algorithms.buildStatefulFedAvg({ model: mf, localOptimizer: sgd });

  const state: LearningProcessState = await fedAvg.initialize();
  const controller = new AbortController();
  const result: RoundResult = await fedAvg.next(state, sampleClients(ids, 5, { seed: 0, round: 0 }).map((id) => leaf.createDataset(id).batch(20)), {
    signal: controller.signal,
    yieldEvery: 8,
    onProgress: (e: RoundProgress) => {
      const done: number = e.clientsDone + e.clientsTotal + e.examplesPerSecond + e.round + e.client;
      const loss: number | undefined = e.clientProgress?.loss;
      void done;
      void loss;
    },
  });
  const trainLoss: number | undefined = result.metrics.client_work.train?.['loss'];
  const weights: ModelWeights = fedAvg.getModelWeights(result.state);
  const first: Float32Array | undefined = weights.trainable[0]?.data;
  const moved = evaluation.setModelWeights(await evaluation.initialize(), weights);
  const evalMetrics = (await evaluation.next(moved, [])).metrics.client_work.eval?.current_round_metrics;
  const restored = LearningProcessState.fromBytes(result.state.toBytes());
  const round: number = restored.round;

  const s0 = await stateful.initialize();
  const cs: Uint8Array = await stateful.initialClientState(0);
  const out = await stateful.next(s0, [ratings.createDataset('0').batch(5)], [cs], { yieldEvery: 2 });
  const newStates: Uint8Array[] = out.clientStates;
  await recon.next(await recon.initialize(), []);

  try {
    optimizers.sgd({ learningRate: Number.NaN });
  } catch (e) {
    if (e instanceof FedwasmError) {
      const code: string = e.code;
      const reason: string | undefined = e.reason;
      void code;
      void reason;
    }
  }
  pool.close();
  void [kind, v, csv, arrays, images, pack, n, counts, shape, sample, plan, client, params, optName, size, trainLoss, first, evalMetrics, round, newStates];
}
