// LearningProcess: TFF's `LearningProcess` (initialize, next,
// get_model_weights, set_model_weights) over the engine's protocol. A round
// is always the same steps, wherever its clients run:
//   1. the engine's ServerRound starts from the state (checked),
//   2. it writes each client's task (FWTK bytes: round, model fingerprint,
//      weights, work, dataset plan, seed),
//   3. a runner (this thread, or a WorkerPool) runs each client on its
//      examples (FWEX bytes) and returns its update (FWUP bytes),
//   4. the ServerRound validates and adds each update as it arrives (exact
//      sums: the result does not depend on order or on the runner),
//   5. it finishes: new state (FWCK bytes) and TFF's metrics.
import { engine } from './engine.js';
import { checkOptions, describe, guard, guardAsync, invalid, wholeNumber } from './errors.js';
import { Dataset } from './data.js';
import { inlineRunner, cancelledError } from './runner.js';
import { Optimizer } from './optimizers.js';
import { Model } from './models.js';

/** A process's state between rounds: the global model, the server optimizer's state, the round. */
export class LearningProcessState {
  #bytes;

  /** @internal Use `LearningProcess.initialize`, `next` or `LearningProcessState.fromBytes`. */
  constructor(bytes, token) {
    if (token !== INTERNAL) throw new TypeError('use process.initialize() or LearningProcessState.fromBytes(bytes)');
    this.#bytes = bytes;
  }

  /**
   * A state from its bytes (as `toBytes` wrote them: the engine's FWCK
   * checkpoint, versioned and checksummed; checked now).
   * @param {Uint8Array | ArrayBuffer} bytes
   */
  static fromBytes(bytes) {
    let b;
    if (bytes instanceof Uint8Array) b = bytes.slice();
    else if (bytes instanceof ArrayBuffer) b = new Uint8Array(bytes.slice(0));
    else throw invalid('LearningProcessState.fromBytes', `bytes must be a Uint8Array or an ArrayBuffer, got ${describe(bytes)}`);
    guard(() => engine().checkpointRound(b));
    return new LearningProcessState(b, INTERNAL);
  }

  /** The state as bytes (a copy), for storage or transfer. */
  toBytes() {
    return this.#bytes.slice();
  }

  /** Rounds completed. */
  get round() {
    return guard(() => engine().checkpointRound(this.#bytes));
  }

  /** @internal */
  get bytes() {
    return this.#bytes;
  }
}

const INTERNAL = Symbol('fedwasm state');

/** @internal Makes a state from the engine's bytes. */
export function stateFromBytes(bytes) {
  return new LearningProcessState(bytes, INTERNAL);
}

export class LearningProcess {
  #handle;
  #backend;
  #pool;
  #yieldEvery;
  #yieldGapMs;

  /** @internal Use `algorithms.build*`. */
  constructor(handle, { backend, pool, yieldEvery, yieldGapMs }, token) {
    if (token !== BUILD) throw new TypeError('use algorithms.buildWeightedFedAvg (or another builder)');
    this.#handle = handle;
    this.#backend = backend;
    this.#pool = pool;
    this.#yieldEvery = yieldEvery;
    this.#yieldGapMs = yieldGapMs;
  }

  /** The algorithm (`weighted_fed_avg`, `fed_recon`, ...). */
  get name() {
    return this.#handle.name;
  }

  /** Whether clients keep state between rounds (`buildStatefulFedAvg`). */
  get isStateful() {
    return this.#handle.isStateful;
  }

  /** The backend option clients run with (`auto`, `webgpu`, `cpu`). */
  get backend() {
    return this.#backend;
  }

  /** The pool clients run in (`null`: this thread). */
  get pool() {
    return this.#pool;
  }

  /** The process as data (the engine's ProcessSpec). */
  get spec() {
    return this.#handle.spec;
  }

  /** The initial state (TFF's `initialize()`). */
  async initialize() {
    return stateFromBytes(await guardAsync(this.#handle.initialize()));
  }

  /**
   * Stateful processes: the first state of client `index` (its local
   * variables; bytes the caller keeps, never sent anywhere).
   */
  async initialClientState(index) {
    wholeNumber('LearningProcess.initialClientState', 'index', index);
    return guardAsync(this.#handle.initialClientState(index));
  }

  /**
   * Runs one round. `datasets[i]` is client `i`'s Dataset (its plan runs
   * where the client runs). Stateful processes take `clientStates` (one per
   * dataset; omitted: each client's initial state) and return the new ones.
   *
   * Options: `signal` (an AbortSignal: cancels between batches; the round
   * then rejects with code `cancelled` and `state` is unchanged),
   * `onProgress(event)` (after every batch of every client and when a
   * client is done: `{ round, clientsDone, clientsTotal, examples,
   * examplesPerSecond, client, clientProgress, clientFinished }`),
   * `yieldEvery` (batches between yields to the event loop, default 8),
   * `yieldGapMs` (the least time between two yields, default 16: a frame;
   * 0 yields exactly every `yieldEvery` batches).
   * @returns {Promise<{ state: LearningProcessState, metrics: object, backend: object, clientStates?: Uint8Array[] }>}
   */
  async next(state, datasets, ...rest) {
    const op = 'LearningProcess.next';
    let clientStates;
    let options;
    if (this.isStateful) [clientStates, options] = rest;
    else {
      [options] = rest;
      if (rest.length > 1) throw invalid(op, `${this.name} takes (state, datasets, options); client states are for buildStatefulFedAvg`);
    }
    options = checkOptions(op, options ?? {}, ['signal', 'onProgress', 'yieldEvery', 'yieldGapMs']);
    if (!(state instanceof LearningProcessState)) throw invalid(op, `state must be a LearningProcessState, got ${describe(state)}`);
    if (!Array.isArray(datasets)) throw invalid(op, `datasets must be an array of Datasets, got ${describe(datasets)}`);
    datasets.forEach((d, i) => {
      if (!(d instanceof Dataset)) throw invalid(op, `datasets[${i}] is ${describe(d)}, not a Dataset (clientData.createDataset(id))`);
    });
    const onProgress = options.onProgress;
    if (onProgress !== undefined && typeof onProgress !== 'function') throw invalid(op, 'onProgress must be a function');
    const yieldEvery = options.yieldEvery ?? this.#yieldEvery;
    wholeNumber(op, 'yieldEvery', yieldEvery);
    const yieldGapMs = options.yieldGapMs ?? this.#yieldGapMs;
    gapMs(op, yieldGapMs);
    const signal = options.signal;
    if (signal?.aborted) throw cancelledError();

    if (this.isStateful) {
      if (clientStates === undefined) {
        clientStates = await Promise.all(datasets.map((_, i) => this.initialClientState(i)));
      }
      if (!Array.isArray(clientStates) || clientStates.length !== datasets.length) {
        throw invalid(op, `clientStates must be an array of one state per dataset (${datasets.length}), got ${describe(clientStates)}`);
      }
    }

    const round = guard(() => this.#handle.beginRound(state.bytes));
    try {
      const roundId = round.roundId;
      const seen = new Set();
      const jobs = datasets.map((d, i) => {
        const cs = clientStates?.[i];
        if (cs !== undefined && !(cs instanceof Uint8Array)) throw invalid(op, `clientStates[${i}] must be the Uint8Array a round returned`);
        const key = cs === undefined ? i : guard(() => engine().clientStateIndex(cs));
        if (seen.has(key)) throw invalid(op, `client key ${key} appears twice in one round`);
        seen.add(key);
        return {
          task: guard(() => round.task(key, JSON.stringify(d.plan))),
          data: d.clientBytes(),
          clientState: cs,
        };
      });
      const started = now();
      let clientsDone = 0;
      let examplesDone = 0;
      const perClient = new Array(jobs.length).fill(0);
      const backends = new Map();
      const newStates = new Array(jobs.length);
      const report = (client, clientProgress, clientFinished) => {
        if (!onProgress) return;
        const seconds = (now() - started) / 1000;
        const examples = examplesDone + perClient.reduce((a, b) => a + b, 0);
        onProgress({
          round: roundId,
          clientsDone,
          clientsTotal: jobs.length,
          examples,
          examplesPerSecond: seconds > 0 ? examples / seconds : 0,
          client,
          clientProgress,
          clientFinished,
        });
      };
      const runner = this.#pool ?? inlineRunner;
      await runner.run(this.#handle.modelSpec, jobs, {
        backend: this.#backend,
        yieldEvery,
        yieldGapMs,
        signal,
        onClientProgress: (i, p) => {
          perClient[i] = p.examples;
          report(i, p, false);
        },
        onClientDone: (i, result) => {
          guard(() => round.accept(result.update));
          backends.set(`${result.backend.kind}:${result.backend.adapter}`, result.backend);
          newStates[i] = result.clientState;
          clientsDone += 1;
          examplesDone += perClient[i];
          perClient[i] = 0;
          report(i, null, true);
        },
      });
      if (signal?.aborted) throw cancelledError();
      const { state: bytes, metrics } = guard(() => round.finish());
      const out = {
        state: stateFromBytes(bytes),
        metrics,
        backend: backends.size === 1 ? [...backends.values()][0] : backends.size === 0 ? null : [...backends.values()],
      };
      if (this.isStateful) out.clientStates = newStates;
      return out;
    } finally {
      round.free();
    }
  }

  /**
   * The global model weights of `state` (TFF's `get_model_weights`):
   * `{ trainable, nonTrainable }`, each a list of `{ name, shape, data: Float32Array }`.
   */
  getModelWeights(state) {
    if (!(state instanceof LearningProcessState)) throw invalid('LearningProcess.getModelWeights', `state must be a LearningProcessState, got ${describe(state)}`);
    return guard(() => this.#handle.getModelWeights(state.bytes));
  }

  /** `state` with its model weights replaced (TFF's `set_model_weights`). */
  setModelWeights(state, weights) {
    if (!(state instanceof LearningProcessState)) throw invalid('LearningProcess.setModelWeights', `state must be a LearningProcessState, got ${describe(state)}`);
    return stateFromBytes(guard(() => this.#handle.setModelWeights(state.bytes, weights)));
  }
}

const BUILD = Symbol('fedwasm build');

/** @internal Builds a LearningProcess (algorithms.js). */
export function buildProcess(algorithm, options, allowed, extra = {}) {
  const op = `algorithms.${BUILDER_NAMES[algorithm]}`;
  checkOptions(op, options, ['model', 'backend', 'pool', 'yieldEvery', 'yieldGapMs', ...allowed]);
  engine();
  const { model, backend = 'auto', pool = null, yieldEvery = 8, yieldGapMs = 16, ...rest } = options ?? {};
  if (!(model instanceof Model)) {
    throw invalid(op, `model must be a Model (models.softmaxRegression(...), ...), got ${describe(model)}`);
  }
  if (!['auto', 'webgpu', 'cpu'].includes(backend)) throw invalid(op, `backend must be 'auto', 'webgpu' or 'cpu', got ${describe(backend)}`);
  if (pool !== null && typeof pool?.run !== 'function') throw invalid(op, `pool must be a WorkerPool or null, got ${describe(pool)}`);
  wholeNumber(op, 'yieldEvery', yieldEvery);
  gapMs(op, yieldGapMs);
  const config = { ...extra };
  for (const [k, v] of Object.entries(rest)) {
    if (v === undefined) continue;
    config[SNAKE[k] ?? k] = toConfig(op, k, v);
  }
  const handle = guard(() => new (engine().ProcessHandle)(algorithm, model.specText, JSON.stringify(config)));
  return new LearningProcess(handle, { backend, pool, yieldEvery, yieldGapMs }, BUILD);
}

const BUILDER_NAMES = {
  weighted_fed_avg: 'buildWeightedFedAvg',
  unweighted_fed_avg: 'buildUnweightedFedAvg',
  fed_prox: 'buildFedProx',
  fed_eval: 'buildFedEval',
  fed_recon: 'buildFedRecon',
  fed_recon_eval: 'buildFedReconEval',
  stateful_fed_avg: 'buildStatefulFedAvg',
};

const SNAKE = {
  clientOptimizer: 'client_optimizer',
  serverOptimizer: 'server_optimizer',
  reconstructionOptimizer: 'reconstruction_optimizer',
  localOptimizer: 'local_optimizer',
  proximalStrength: 'proximal_strength',
  clientWeighting: 'client_weighting',
  split: 'split',
  seed: 'seed',
};

function toConfig(op, key, v) {
  if (key.endsWith('Optimizer')) {
    if (!(v instanceof Optimizer)) {
      throw invalid(op, `${key} must be an optimizer (optimizers.sgd(...), ...), got ${describe(v)}`);
    }
    return v.toJSON();
  }
  if (key === 'proximalStrength') {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(op, `proximalStrength must be a finite number >= 0, got ${describe(v)}`);
    return v;
  }
  if (key === 'clientWeighting') {
    const w = { numExamples: 'NUM_EXAMPLES', uniform: 'UNIFORM' }[v];
    if (!w) throw invalid(op, `clientWeighting must be 'numExamples' or 'uniform', got ${describe(v)}`);
    return w;
  }
  if (key === 'seed') return wholeNumber(op, 'seed', v);
  if (key === 'split') {
    checkOptions(`${op} split`, v, ['reconEpochs', 'reconStepsMax', 'postReconEpochs', 'postReconStepsMax', 'splitDataset']);
    const n = (k, min) => (v[k] === undefined || v[k] === null ? null : wholeNumber(op, `split.${k}`, v[k], min));
    const s = {
      recon_epochs: n('reconEpochs', 1) ?? 1,
      recon_steps_max: n('reconStepsMax', 1),
      post_recon_epochs: n('postReconEpochs', 1) ?? 1,
      post_recon_steps_max: n('postReconStepsMax', 1),
      split_dataset: v.splitDataset ?? true,
    };
    if (typeof s.split_dataset !== 'boolean') throw invalid(op, `split.splitDataset must be true or false, got ${describe(v.splitDataset)}`);
    return s;
  }
  return v;
}

function gapMs(op, v) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(op, `yieldGapMs must be a finite number >= 0, got ${describe(v)}`);
  return v;
}

function now() {
  return globalThis.performance?.now() ?? Date.now();
}

