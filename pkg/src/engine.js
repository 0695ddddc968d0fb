// The wasm engine of this thread: compiled once, instantiated once.
import init, * as bindings from '../wasm/fedwasm.js';
import { platform } from './platform.js';
import { FedwasmError, guardAsync } from './errors.js';

let loading = null;
let compiled = null;

/**
 * Loads the engine (idempotent): fetches and compiles the `.wasm` (beside
 * the package's `wasm/fedwasm.js`, or at `wasmUrl`), then instantiates it.
 * Workers get the compiled module from the pool instead (`module`).
 */
export function ready(options = {}) {
  if (options !== null && typeof options !== 'object') {
    return Promise.reject(new FedwasmError('invalid_argument', 'invalid argument to ready: options must be an object'));
  }
  for (const key of Object.keys(options ?? {})) {
    if (key !== 'wasmUrl' && key !== 'module') {
      return Promise.reject(new FedwasmError('invalid_argument', `invalid argument to ready: unknown option ${JSON.stringify(key)} (known: wasmUrl)`));
    }
  }
  if (loading === null) {
    loading = (async () => {
      const module = options.module ?? (await platform().compileWasm(options.wasmUrl));
      await guardAsync(init({ module_or_path: module }));
      compiled = module;
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

/** The wasm-bindgen exports; throws `not_ready` before `ready()` resolved. */
export function engine() {
  if (compiled === null) {
    throw new FedwasmError('not_ready', "fedwasm is not loaded yet: `await ready()` first");
  }
  return bindings;
}

/** The compiled `WebAssembly.Module`, for workers. */
export function wasmModule() {
  engine();
  return compiled;
}
