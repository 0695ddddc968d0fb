// Everything the package exports, for both entry modules.
import { engine, ready as readyEngine } from './engine.js';
import { checkOptions, guardAsync, invalid, describe } from './errors.js';

export { FedwasmError } from './errors.js';
export { ClientData, Dataset } from './data.js';
export { models, Model } from './models.js';
export { optimizers, Optimizer } from './optimizers.js';
export { algorithms } from './algorithms.js';
export { LearningProcess, LearningProcessState } from './process.js';
export { WorkerPool } from './pool.js';
export { sampleClients } from './sampling.js';
export { connect, FederatedClient } from './net/client.js';
export { memoryStorage, indexedDbStorage } from './net/storage.js';

/**
 * Loads the engine (idempotent). `wasmUrl` overrides where the `.wasm` is
 * fetched from (self-hosting); by default it sits beside the package's JS.
 * @param {{ wasmUrl?: string | URL }} [options]
 */
export function ready(options = {}) {
  checkOptions('ready', options, ['wasmUrl']);
  return readyEngine(options);
}

/**
 * The backend a selection gives on this thread: `{ kind: 'webgpu' | 'cpu',
 * adapter, software }`. `'auto'` takes a real GPU, else the CPU; `'webgpu'`
 * fails (code `backend_unavailable`) without an adapter.
 * @param {{ backend?: 'auto' | 'webgpu' | 'cpu' }} [options]
 */
export async function backendInfo(options = {}) {
  checkOptions('backendInfo', options, ['backend']);
  const backend = options.backend ?? 'auto';
  if (!['auto', 'webgpu', 'cpu'].includes(backend)) {
    throw invalid('backendInfo', `backend must be 'auto', 'webgpu' or 'cpu', got ${describe(backend)}`);
  }
  await readyEngine();
  return JSON.parse(await guardAsync(engine().backendInfo(backend)));
}

/** The engine's version. */
export function version() {
  return engine().version();
}
