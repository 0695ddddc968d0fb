// Shared pieces of the coordinator tests: the demo's FEMNIST writers, a
// W1-style task, a fleet of Node.js clients, the final model's test
// accuracy, and a coordinator run as its own process (`fedwasm serve`).
import { readFile, mkdtemp, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fw from '../../pkg/src/node.js';

const root = new URL('../../', import.meta.url);
export const PACK = new URL('www/data/femnist_digits_100.bin', root);
export const CLI = new URL('pkg/bin/fedwasm.js', root).pathname;

export { fw };

/** Train and test ClientData of the 100 demo writers, and the `n` writers with the most train digits (that also have test digits). */
export async function femnist(n) {
  await fw.ready();
  const bytes = new Uint8Array(await readFile(PACK));
  const train = await fw.ClientData.fromFemnistPack(bytes, { split: 'train' });
  const test = await fw.ClientData.fromFemnistPack(bytes, { split: 'test' });
  const withTest = new Set(test.clientIds);
  const ids = train.clientIds
    .filter((id) => withTest.has(id))
    .sort((a, b) => train.numExamples(b) - train.numExamples(a) || (a < b ? -1 : 1))
    .slice(0, n);
  return { train, test, ids };
}

export function tokens(n, prefix = 'token') {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}-${'x'.repeat(8)}`);
}

/** A W1-style task (softmax regression on digits, weighted FedAvg). */
export function w1Task(overrides = {}) {
  return {
    model: { builtin: 'softmaxRegression', options: { inputs: 784, classes: 10 } },
    algorithm: 'weightedFedAvg',
    rounds: 5,
    clientsPerRound: 10,
    overSelection: 1.3,
    minReports: 5,
    reportDeadlineSeconds: 20,
    selectionTimeoutSeconds: 2,
    clientOptimizer: { name: 'sgd', learningRate: 0.02 },
    serverOptimizer: { name: 'sgd', learningRate: 1 },
    preprocessing: { epochs: 2, batchSize: 10, shuffleBuffer: 100 },
    tokens: tokens(24),
    ...overrides,
  };
}

/**
 * A FedRecon task on synthetic ratings (`fw.ClientData.syntheticRatings`
 * with 30 items): every one of `users` clients in every round.
 */
export function reconTask(users, overrides = {}) {
  return {
    model: { builtin: 'matrixFactorization', options: { items: 30, dim: 4 } },
    algorithm: 'fedRecon',
    rounds: 3,
    clientsPerRound: users,
    minReports: users,
    reportDeadlineSeconds: 30,
    clientOptimizer: { name: 'sgd', learningRate: 0.3 },
    reconstructionOptimizer: { name: 'sgd', learningRate: 0.5 },
    preprocessing: { batchSize: 5 },
    tokens: tokens(users),
    ...overrides,
  };
}

/**
 * Connects one client per id (token i for ids[i]); returns the clients and
 * a close() for all. `onClient(client, i)` may add listeners;
 * `WebSocketFor(i)` may give client i its own WebSocket class.
 */
export function fleet(url, { data, ids, tokenList, onClient, WebSocketFor, ...options }) {
  const clients = ids.map((id, i) => {
    const WebSocket = WebSocketFor?.(i);
    const c = fw.connect(url, { token: tokenList[i], data, clientId: id, backend: 'cpu', storage: false, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 }, ...options, ...(WebSocket ? { WebSocket } : {}) });
    onClient?.(c, i);
    return c;
  });
  return { clients, close: () => clients.forEach((c) => c.close()) };
}

/** Test accuracy of the state (FWCK bytes) of a softmax task on `test` clients `ids`. */
export async function testAccuracy(stateBytes, test, ids) {
  const model = fw.models.softmaxRegression({ inputs: 784, classes: 10 });
  const train = fw.algorithms.buildWeightedFedAvg({ model, backend: 'cpu' });
  const evaluation = fw.algorithms.buildFedEval({ model, backend: 'cpu' });
  const weights = train.getModelWeights(fw.LearningProcessState.fromBytes(stateBytes));
  const s = evaluation.setModelWeights(await evaluation.initialize(), weights);
  const out = await evaluation.next(s, ids.map((id) => test.createDataset(id).batch(50)));
  return out.metrics.client_work.eval.current_round_metrics.sparse_categorical_accuracy;
}

export async function tempDir(prefix = 'fedwasm-coord-') {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function writeTask(dir, task) {
  const file = join(dir, 'task.json');
  await writeFile(file, JSON.stringify(task, null, 2));
  return file;
}

/**
 * Polls `fn` every `everyMs` until it returns a truthy value, or throws
 * after `timeoutMs`, with `describe()` (what was seen last) in the message.
 */
export async function until(fn, { timeoutMs = 60_000, everyMs = 50, what = 'condition', describe } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${describe ? `; last seen: ${await describe()}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * `fedwasm serve` as a child process on a free port; resolves once it
 * listens, with its URLs, its output so far, and kill().
 */
export function serveProcess(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /listening on (\S+) \(status: (\S+);/.exec(out);
      if (m && !handle.url) {
        handle.url = m[1];
        handle.statusUrl = m[2];
        resolve(handle);
      }
    };
    const handle = {
      child,
      url: null,
      statusUrl: null,
      get output() {
        return out;
      },
      exited: new Promise((r) => child.on('exit', (code, signal) => r({ code, signal }))),
      kill: (signal = 'SIGKILL') => child.kill(signal),
      status: async () => (await fetch(handle.statusUrl)).json(),
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      if (!handle.url) reject(new Error(`fedwasm serve exited (${code}) before listening:\n${out}`));
    });
  });
}
