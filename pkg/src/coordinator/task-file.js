// The coordinator's task file (JSON; every field is documented in
// pkg/PROTOCOL.md "Task file"): what to train, how rounds run, who may join
// and the limits. `parseTask` checks it whole (unknown fields are errors,
// naming their path) and builds the process with the package's own
// builders, so a task file means exactly what the same options mean in
// JavaScript.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FedwasmError } from '../errors.js';
import { models } from '../models.js';
import { optimizers } from '../optimizers.js';
import { algorithms } from '../algorithms.js';

const ALGORITHMS = {
  weightedFedAvg: { build: 'buildWeightedFedAvg', options: ['clientOptimizer', 'serverOptimizer', 'clientWeighting'] },
  unweightedFedAvg: { build: 'buildUnweightedFedAvg', options: ['clientOptimizer', 'serverOptimizer'] },
  fedProx: { build: 'buildFedProx', options: ['clientOptimizer', 'serverOptimizer', 'clientWeighting', 'proximalStrength'] },
  fedRecon: { build: 'buildFedRecon', options: ['clientOptimizer', 'serverOptimizer', 'reconstructionOptimizer', 'clientWeighting', 'split'] },
};
const BUILTIN_MODELS = ['softmaxRegression', 'cnnDropout', 'matrixFactorization'];
const OPTIMIZERS = ['sgd', 'adam', 'adagrad', 'yogi', 'rmsprop'];

/** Defaults of the fields that have one. */
export const TASK_DEFAULTS = Object.freeze({
  overSelection: 1,
  selectionTimeoutSeconds: 10,
  seed: 0,
  preprocessing: Object.freeze({ epochs: 1, shuffleBuffer: 0, batchSize: 20, dropRemainder: false, maxBatches: null }),
  limits: Object.freeze({ messageBytes: 64 * 1024 * 1024, updateNorm: null, connections: 10000, concurrentUploads: 8 }),
});

const TOP = [
  'model', 'algorithm', 'rounds', 'clientsPerRound', 'overSelection', 'minReports', 'reportDeadlineSeconds',
  'selectionTimeoutSeconds', 'clientOptimizer', 'serverOptimizer', 'reconstructionOptimizer', 'clientWeighting',
  'proximalStrength', 'split', 'preprocessing', 'seed', 'tokens', 'tokensFile', 'limits', 'evaluation', 'description',
];

function taskError(path, detail) {
  return new FedwasmError('invalid_argument', `task file: ${path}: ${detail}`, { reason: 'task_file' });
}

function fields(path, v, allowed) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw taskError(path, `must be an object, got ${JSON.stringify(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw taskError(`${path}.${k}`, `unknown field (known: ${allowed.join(', ')})`);
  }
  return v;
}

function whole(path, v, min = 0) {
  if (!Number.isSafeInteger(v) || v < min) throw taskError(path, `must be a whole number >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function positive(path, v) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw taskError(path, `must be a number > 0, got ${JSON.stringify(v)}`);
  return v;
}

/** An optimizer from `{ "name": "sgd", "learningRate": 0.1, ... }`. */
function optimizer(path, v) {
  fields(path, v, ['name', 'learningRate', 'momentum', 'nesterov', 'beta1', 'beta2', 'epsilon', 'initialAccumulatorValue', 'initialPreconditionerValue', 'decay']);
  if (!OPTIMIZERS.includes(v.name)) throw taskError(`${path}.name`, `must be one of ${OPTIMIZERS.join(', ')}, got ${JSON.stringify(v.name)}`);
  const { name, ...options } = v;
  try {
    return optimizers[name](options);
  } catch (e) {
    throw taskError(path, e.message);
  }
}

function model(path, v) {
  fields(path, v, ['builtin', 'options', 'spec']);
  if ((v.builtin === undefined) === (v.spec === undefined)) throw taskError(path, 'give exactly one of "builtin" and "spec"');
  try {
    if (v.spec !== undefined) {
      if (v.options !== undefined) throw taskError(`${path}.options`, 'is for builtin models only');
      return models.fromSpec(v.spec);
    }
    if (!BUILTIN_MODELS.includes(v.builtin)) throw taskError(`${path}.builtin`, `must be one of ${BUILTIN_MODELS.join(', ')}, got ${JSON.stringify(v.builtin)}`);
    return models[v.builtin](v.options ?? {});
  } catch (e) {
    if (e.reason === 'task_file') throw e;
    throw taskError(path, e.message);
  }
}

/** The dataset plan every client runs (the engine's DatasetPlan JSON). */
function preprocessing(path, v) {
  const p = { ...TASK_DEFAULTS.preprocessing, ...fields(path, v ?? {}, Object.keys(TASK_DEFAULTS.preprocessing).concat('shuffleSeed')) };
  whole(`${path}.epochs`, p.epochs, 1);
  whole(`${path}.shuffleBuffer`, p.shuffleBuffer);
  whole(`${path}.batchSize`, p.batchSize, 1);
  if (typeof p.dropRemainder !== 'boolean') throw taskError(`${path}.dropRemainder`, 'must be true or false');
  if (p.maxBatches !== null) whole(`${path}.maxBatches`, p.maxBatches, 1);
  const ops = [];
  if (p.epochs > 1) ops.push({ op: 'repeat', count: p.epochs });
  if (p.shuffleBuffer > 0) ops.push({ op: 'shuffle', buffer: p.shuffleBuffer, seed: whole(`${path}.shuffleSeed`, p.shuffleSeed ?? 0) });
  ops.push({ op: 'batch', size: p.batchSize, drop_remainder: p.dropRemainder });
  if (p.maxBatches !== null) ops.push({ op: 'take', count: p.maxBatches });
  return { settings: p, plan: { ops } };
}

function limits(path, v) {
  const l = { ...TASK_DEFAULTS.limits, ...fields(path, v ?? {}, Object.keys(TASK_DEFAULTS.limits)) };
  whole(`${path}.messageBytes`, l.messageBytes, 1024);
  if (l.updateNorm !== null) positive(`${path}.updateNorm`, l.updateNorm);
  whole(`${path}.connections`, l.connections, 1);
  whole(`${path}.concurrentUploads`, l.concurrentUploads, 1);
  return l;
}

/**
 * The evaluation schedule: after every `every` training rounds (and after
 * the last), a federated evaluation round of the current model on the
 * clients' evaluation data (FedRecon: reconstruction, then evaluation), with
 * its own client counts and deadline (default: the training rounds').
 * `null` when the task has none.
 */
function evaluationSchedule(task, options, rounds) {
  if (task.evaluation === undefined || task.evaluation === null) return null;
  const path = 'evaluation';
  const e = fields(path, task.evaluation, ['every', 'clientsPerRound', 'minReports', 'reportDeadlineSeconds']);
  const out = {
    every: whole(`${path}.every`, e.every, 1),
    clientsPerRound: whole(`${path}.clientsPerRound`, e.clientsPerRound ?? rounds.clientsPerRound, 1),
    minReports: whole(`${path}.minReports`, e.minReports ?? rounds.minReports, 1),
    reportDeadlineSeconds: positive(`${path}.reportDeadlineSeconds`, e.reportDeadlineSeconds ?? rounds.reportDeadlineSeconds),
  };
  if (out.minReports > out.clientsPerRound) throw taskError(`${path}.minReports`, `(${out.minReports}) must be at most clientsPerRound (${out.clientsPerRound})`);
  const evalOptions = { model: options.model, backend: 'cpu', seed: options.seed };
  try {
    if (task.algorithm === 'fedRecon') {
      if (options.reconstructionOptimizer) evalOptions.reconstructionOptimizer = options.reconstructionOptimizer;
      if (options.split) evalOptions.split = options.split;
      out.process = algorithms.buildFedReconEval(evalOptions);
    } else {
      out.process = algorithms.buildFedEval({ model: options.model, backend: 'cpu' });
    }
  } catch (e) {
    throw taskError(path, e.message);
  }
  return out;
}

/** Client tokens: an array of strings, inline or one per line of `tokensFile` (relative to the task file). */
function tokens(task, baseDir) {
  if ((task.tokens === undefined) === (task.tokensFile === undefined)) throw taskError('tokens', 'give exactly one of "tokens" and "tokensFile"');
  let list = task.tokens;
  if (task.tokensFile !== undefined) {
    if (typeof task.tokensFile !== 'string') throw taskError('tokensFile', 'must be a path');
    const file = resolve(baseDir, task.tokensFile);
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new FedwasmError('io', `task file: tokensFile ${file}: ${e.message}`);
    }
    list = text.split('\n').map((t) => t.trim()).filter((t) => t !== '' && !t.startsWith('#'));
  }
  if (!Array.isArray(list) || list.length === 0) throw taskError('tokens', 'must be a non-empty array of strings');
  const seen = new Set();
  list.forEach((t, i) => {
    if (typeof t !== 'string' || t.length < 8) throw taskError(`tokens[${i}]`, 'must be a string of at least 8 characters');
    if (seen.has(t)) throw taskError(`tokens[${i}]`, 'appears twice');
    seen.add(t);
  });
  return list;
}

/**
 * A checked task from the task file's parsed JSON. `baseDir` is where
 * relative paths (tokensFile) start.
 * @returns {{ raw: object, process: import('../process.js').LearningProcess, algorithm: string,
 *   rounds: number, clientsPerRound: number, overSelection: number, selectCount: number,
 *   minReports: number, reportDeadlineSeconds: number, selectionTimeoutSeconds: number,
 *   plan: object, preprocessing: object, tokens: string[], limits: object, fingerprint: string }}
 */
export function parseTask(task, baseDir = process.cwd()) {
  fields('task', task, TOP);
  for (const k of ['model', 'algorithm', 'rounds', 'clientsPerRound', 'minReports', 'reportDeadlineSeconds']) {
    if (task[k] === undefined) throw taskError(k, 'is required');
  }
  const algo = ALGORITHMS[task.algorithm];
  if (!algo) throw taskError('algorithm', `must be one of ${Object.keys(ALGORITHMS).join(', ')}, got ${JSON.stringify(task.algorithm)}`);
  const rounds = whole('rounds', task.rounds, 1);
  const clientsPerRound = whole('clientsPerRound', task.clientsPerRound, 1);
  const overSelection = task.overSelection ?? TASK_DEFAULTS.overSelection;
  if (typeof overSelection !== 'number' || !Number.isFinite(overSelection) || overSelection < 1) {
    throw taskError('overSelection', `must be a number >= 1, got ${JSON.stringify(overSelection)}`);
  }
  const minReports = whole('minReports', task.minReports, 1);
  if (minReports > clientsPerRound) throw taskError('minReports', `(${minReports}) must be at most clientsPerRound (${clientsPerRound})`);
  const reportDeadlineSeconds = positive('reportDeadlineSeconds', task.reportDeadlineSeconds);
  const selectionTimeoutSeconds = positive('selectionTimeoutSeconds', task.selectionTimeoutSeconds ?? TASK_DEFAULTS.selectionTimeoutSeconds);
  const seed = whole('seed', task.seed ?? TASK_DEFAULTS.seed);
  const m = model('model', task.model);
  const options = { model: m, backend: 'cpu', seed };
  for (const k of ['clientOptimizer', 'serverOptimizer', 'reconstructionOptimizer', 'clientWeighting', 'proximalStrength', 'split']) {
    if (task[k] === undefined) continue;
    if (!algo.options.includes(k)) throw taskError(k, `is not an option of ${task.algorithm} (its options: ${algo.options.join(', ')})`);
    options[k] = k.endsWith('Optimizer') ? optimizer(k, task[k]) : task[k];
  }
  let learning;
  try {
    learning = algorithms[algo.build](options);
  } catch (e) {
    throw taskError('task', e.message);
  }
  const pre = preprocessing('preprocessing', task.preprocessing);
  const evaluation = evaluationSchedule(task, options, { clientsPerRound, minReports, reportDeadlineSeconds });
  const checked = {
    raw: task,
    process: learning,
    algorithm: task.algorithm,
    modelSpec: m.specText,
    rounds,
    clientsPerRound,
    overSelection,
    selectCount: Math.ceil(clientsPerRound * overSelection),
    minReports,
    reportDeadlineSeconds,
    selectionTimeoutSeconds,
    plan: pre.plan,
    // Evaluation runs over each client's examples once, in order, batched.
    evaluationPlan: { ops: [{ op: 'batch', size: pre.settings.batchSize, drop_remainder: false }] },
    preprocessing: pre.settings,
    tokens: tokens(task, baseDir),
    limits: limits('limits', task.limits),
    evaluation,
  };
  checked.fingerprint = taskFingerprint(checked, task);
  return checked;
}

/** Reads and checks a task file. */
export function readTaskFile(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FedwasmError('io', `task file ${path}: ${e.message}`);
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FedwasmError('invalid_argument', `task file ${path} is not JSON: ${e.message}`, { reason: 'task_file' });
  }
  return parseTask(json, dirname(resolve(path)));
}

/**
 * What a checkpoint must agree with to be resumed: everything that decides
 * the numbers (model, algorithm and its options, plan, seed), not how many
 * rounds, who may join or the limits (a task may be given more rounds or
 * new tokens and resume).
 */
function taskFingerprint(checked, task) {
  const decisive = {
    model: checked.modelSpec,
    algorithm: task.algorithm,
    spec: checked.process.spec,
    plan: checked.plan,
    seed: task.seed ?? TASK_DEFAULTS.seed,
  };
  return createHash('sha256').update(JSON.stringify(decisive, (_, v) => (typeof v === 'bigint' ? v.toString() : v))).digest('hex');
}
