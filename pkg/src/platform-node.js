// Node.js: the wasm is read from the package's directory, workers are
// `worker_threads`.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FedwasmError } from './errors.js';
import { directoryStorage } from './net/storage-node.js';

export const nodePlatform = {
  kind: 'node',

  async compileWasm(wasmUrl) {
    const url = wasmUrl ?? new URL('../wasm/fedwasm_bg.wasm', import.meta.url);
    let bytes;
    try {
      const u = url instanceof URL ? url : new URL(String(url), 'file://' + process.cwd() + '/');
      if (u.protocol === 'file:') {
        bytes = await readFile(fileURLToPath(u));
      } else {
        const response = await fetch(u);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        bytes = new Uint8Array(await response.arrayBuffer());
      }
    } catch (e) {
      throw new FedwasmError('io', `loading the fedwasm engine from ${url} failed: ${e.message}`, { cause: e });
    }
    return WebAssembly.compile(bytes);
  },

  directoryStorage,

  /** The WebSocket class: Node.js 20 has none built in, so the `ws` package's. */
  async webSocket() {
    return globalThis.WebSocket ?? (await import('ws')).WebSocket;
  },

  defaultPoolSize() {
    return Math.max(1, availableParallelism());
  },

  createWorker() {
    const worker = new Worker(new URL('./worker-node.js', import.meta.url));
    let dead = false;
    const handle = {
      post: (message, transfer = []) => worker.postMessage(message, transfer),
      terminate: () => {
        dead = true;
        return worker.terminate();
      },
      // A busy worker keeps Node.js running (a round awaits it); an idle
      // one must not keep a finished program alive.
      busy: (on) => (on ? worker.ref() : worker.unref()),
      onMessage: null,
      onDeath: null,
    };
    const die = (err) => {
      if (dead) return;
      dead = true;
      handle.onDeath?.(err);
    };
    worker.on('message', (m) => handle.onMessage?.(m));
    worker.on('error', (e) => die(e));
    worker.on('messageerror', () => die(new Error('a message from the worker could not be read')));
    worker.on('exit', (code) => die(new Error(`the worker exited with code ${code}`)));
    worker.unref();
    return handle;
  },
};
