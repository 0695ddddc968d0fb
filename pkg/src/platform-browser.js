// Browsers (and bundlers): the wasm and the worker are assets found through
// `new URL(..., import.meta.url)`, which Vite, webpack and esbuild follow.
import { FedwasmError } from './errors.js';

export const browserPlatform = {
  kind: 'browser',

  async compileWasm(wasmUrl) {
    const url = wasmUrl ?? new URL('../wasm/fedwasm_bg.wasm', import.meta.url);
    const response = await fetch(url);
    if (!response.ok) {
      throw new FedwasmError('io', `fetching the fedwasm engine from ${url} failed: HTTP ${response.status}`);
    }
    const type = response.headers.get('Content-Type') ?? '';
    if (typeof WebAssembly.compileStreaming === 'function' && type.startsWith('application/wasm')) {
      return WebAssembly.compileStreaming(response);
    }
    return WebAssembly.compile(await response.arrayBuffer());
  },

  directoryStorage() {
    throw new FedwasmError('unsupported', 'a directory storage is for Node.js; in a browser give an IndexedDB database name');
  },

  async webSocket() {
    if (typeof globalThis.WebSocket !== 'function') throw new FedwasmError('unsupported', 'this environment has no WebSocket');
    return globalThis.WebSocket;
  },

  defaultPoolSize() {
    return Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 1);
  },

  /** A worker as the pool sees it: post, terminate, and three callbacks. */
  createWorker() {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const handle = {
      post: (message, transfer = []) => worker.postMessage(message, transfer),
      terminate: () => worker.terminate(),
      busy: () => {},
      onMessage: null,
      onDeath: null,
    };
    worker.addEventListener('message', (ev) => handle.onMessage?.(ev.data));
    worker.addEventListener('error', (ev) => {
      ev.preventDefault?.();
      handle.onDeath?.(new Error(ev.message || 'the worker failed'));
    });
    worker.addEventListener('messageerror', () => handle.onDeath?.(new Error('a message from the worker could not be read')));
    return handle;
  },
};
