// The demo's tasks and their knobs: defaults per task (those of TFF's
// tutorials where they exist, adjusted where noted), bounds for the form,
// and overrides from the page's query string (`?task=ratings-fedrecon&rounds=3`),
// which the headless driver and the end-to-end test use.

export const TASKS = {
  'femnist-fedavg': { label: 'FEMNIST digits: FedAvg', data: 'femnist', algorithm: 'fedavg' },
  'femnist-fedprox': { label: 'FEMNIST digits: FedProx', data: 'femnist', algorithm: 'fedprox' },
  'ratings-fedrecon': { label: 'Matrix factorisation: Federated Reconstruction', data: 'ratings', algorithm: 'fedrecon' },
};

export const DEFAULT_TASK = 'femnist-fedavg';

const WORKERS = Math.max(1, Math.min(2, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1));

// TFF's EMNIST tutorial: 10 clients a round, 5 epochs, batch 20, shuffle
// 100, client SGD 0.02, server SGD 1.0, a softmax regression.
const FEMNIST = {
  clients: 100,
  perRound: 10,
  rounds: 10,
  epochs: 5,
  batch: 20,
  clientLr: 0.02,
  serverLr: 1,
  mu: 0.01,
  model: 'softmax',
};

// Dense synthetic ratings (rank 2, noise 0.3) that Federated Reconstruction
// learns in a few rounds (crate/fedwasm/tests/federated.rs uses the same
// set-up); TFF's MovieLens tutorial (50-dim, SGD 0.1/0.5) needs far more
// rounds on 1,682 items to leave its saddle point (BENCHMARKS.md, W3).
const RATINGS = {
  clients: 120,
  items: 30,
  dim: 4,
  perRound: 20,
  rounds: 15,
  epochs: 1,
  batch: 5,
  clientLr: 0.3,
  serverLr: 1,
  reconLr: 0.5,
  reconEpochs: 10,
  source: 'synthetic',
};

// A MovieLens file: real ratings (1 to 5, sparse); a gentler
// reconstruction rate than the synthetic set's keeps SGD stable there (0.5
// diverged on a two-taste test file), as in TFF's tutorial (0.1).
const MOVIELENS = {
  clients: 1000,
  rounds: 20,
  clientLr: 0.3,
  reconLr: 0.1,
};

/** Every knob: its kind and bounds (the form's `min`/`max`). */
export const KNOBS = {
  clients: { kind: 'int', min: 1, max: 10000 },
  perRound: { kind: 'int', min: 1, max: 10000 },
  rounds: { kind: 'int', min: 1, max: 1000 },
  epochs: { kind: 'int', min: 1, max: 100 },
  batch: { kind: 'int', min: 1, max: 10000 },
  clientLr: { kind: 'num', min: 0, max: 100 },
  serverLr: { kind: 'num', min: 0, max: 100 },
  mu: { kind: 'num', min: 0, max: 100 },
  reconLr: { kind: 'num', min: 0, max: 100 },
  reconEpochs: { kind: 'int', min: 1, max: 100 },
  items: { kind: 'int', min: 2, max: 100000 },
  dim: { kind: 'int', min: 1, max: 256 },
  workers: { kind: 'int', min: 0, max: 16 },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
  model: { kind: 'choice', values: ['softmax', 'cnn'] },
  backend: { kind: 'choice', values: ['auto', 'webgpu', 'cpu'] },
  source: { kind: 'choice', values: ['synthetic', 'movielens'] },
  task: { kind: 'choice', values: Object.keys(TASKS) },
};

/** The defaults of `task` (and of the ratings' `source`, `synthetic` or `movielens`). */
export function defaults(task, source = 'synthetic') {
  const ratings = TASKS[task]?.data === 'ratings';
  const base = ratings ? { ...RATINGS, ...(source === 'movielens' ? { ...MOVIELENS, source } : {}) } : FEMNIST;
  return { task, ...base, backend: 'auto', workers: WORKERS, seed: 0 };
}

/**
 * Checks one value against its knob; returns the parsed value or throws an
 * Error whose message names the knob.
 */
export function parseKnob(name, raw) {
  const k = KNOBS[name];
  if (!k) throw new Error(`unknown setting ${name}`);
  if (k.kind === 'choice') {
    if (!k.values.includes(raw)) throw new Error(`${name} must be one of ${k.values.join(', ')}, not ${JSON.stringify(raw)}`);
    return raw;
  }
  const v = Number(raw);
  if (raw === '' || !Number.isFinite(v)) throw new Error(`${name} must be a number, not ${JSON.stringify(raw)}`);
  if (k.kind === 'int' && !Number.isInteger(v)) throw new Error(`${name} must be a whole number, not ${raw}`);
  if (v < k.min || v > k.max) throw new Error(`${name} must be between ${k.min} and ${k.max}, not ${raw}`);
  return v;
}

/** Overrides from a query string; unknown names are ignored, bad values throw. */
export function fromQuery(search) {
  const q = new URLSearchParams(search);
  const out = {};
  for (const [name, raw] of q) if (name in KNOBS) out[name] = parseKnob(name, raw);
  return out;
}
