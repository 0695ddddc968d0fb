// The aggregator for Node.js: the server side of a round
// (crate/fedwasm-aggregator: tasks out, validated updates in, the next
// state and the round's metrics back, over the protocol's binary encodings
// FWTK/FWUP/FWCK/FWWT; no training), from pkg/wasm-aggregator/ (built by
// tests/build-pkg.sh). Node-only: the .wasm is read from the package's
// files with fs, never fetched.
//
//   import { loadAggregator } from 'fedwasm/aggregator';
//   const { ServerRound, initialState } = await loadAggregator();
//   const round = new ServerRound(specJson, initialState(specJson, weightsFwwt));
//   const task = round.task(7n, '');       // FWTK bytes for client 7
//   round.accept(updateFwup, 10.0);        // refused (reason 'norm') over L2 norm 10
//   const { state, metrics } = round.finish();
//   round.free();                          // its memory now, not at GC
//
// Every error is a FedwasmError: `code` is the engine's (`refused` with a
// `reason`, `bad_data`, `limit`, `invalid_argument`, ..), or `io` when the
// wasm cannot be loaded.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FedwasmError, guard, invalid, describe, toFedwasmError } from './errors.js';

const glueUrl = new URL('../wasm-aggregator/fedwasm_aggregator.js', import.meta.url);
const wasmUrl = new URL('../wasm-aggregator/fedwasm_aggregator_bg.wasm', import.meta.url);

let loading = null;

/**
 * Loads the aggregator's wasm (idempotent: later calls get the same
 * exports). Rejects with a FedwasmError (`io`) when its files are missing
 * or do not load; a later call tries again.
 * @returns {Promise<{ ServerRound: Function, initialState: Function, setLimits: Function, version: Function }>}
 */
export function loadAggregator() {
  if (loading === null) {
    loading = load();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

async function load() {
  let glue;
  try {
    glue = await import(glueUrl.href);
    const bytes = await readFile(wasmUrl);
    await glue.default({ module_or_path: bytes });
  } catch (e) {
    throw new FedwasmError(
      'io',
      `could not load the aggregator's wasm (${fileURLToPath(wasmUrl)}; built by tests/build-pkg.sh): ${e?.message ?? e}`,
      { cause: e },
    );
  }
  return Object.freeze({
    ServerRound: wrapRound(glue.ServerRound),
    initialState: (specJson, weights) => guard(() => glue.initialState(specJson, weights)),
    setLimits: (limitsJson) => guard(() => glue.setLimits(limitsJson)),
    version: () => glue.version(),
  });
}

/** The wasm-bindgen class, with every engine error thrown as a FedwasmError. */
function wrapRound(Base) {
  return class ServerRound extends Base {
    /**
     * @param {string} specJson the process spec (JSON)
     * @param {Uint8Array} state the FWCK checkpoint to start from
     */
    constructor(specJson, state) {
      try {
        super(specJson, state);
      } catch (e) {
        throw toFedwasmError(e);
      }
    }

    get roundId() {
      return guard(() => super.roundId);
    }

    get accepted() {
      return guard(() => super.accepted);
    }

    task(clientKey, planJson = '') {
      return guard(() => super.task(clientKey, planJson));
    }

    /**
     * Accepts one FWUP update, or throws (`refused` with a `reason`) and
     * changes nothing. `maxNorm`: refuse (reason `norm`) an update whose
     * tensors' L2 norm is over it; absent: no bound.
     * @param {Uint8Array} update
     * @param {number} [maxNorm]
     */
    accept(update, maxNorm) {
      if (maxNorm !== undefined && typeof maxNorm !== 'number') {
        throw invalid('ServerRound.accept', `maxNorm must be a number or undefined, got ${describe(maxNorm)}`);
      }
      return guard(() => super.accept(update, maxNorm));
    }

    /**
     * Every check of `accept` (decode, CRC, the round's checks, `maxNorm`)
     * without adding the update: throws what `accept` would, else nothing
     * changes.
     * @param {Uint8Array} update
     * @param {number} [maxNorm]
     */
    check(update, maxNorm) {
      if (maxNorm !== undefined && typeof maxNorm !== 'number') {
        throw invalid('ServerRound.check', `maxNorm must be a number or undefined, got ${describe(maxNorm)}`);
      }
      return guard(() => super.check(update, maxNorm));
    }

    finish() {
      return guard(() => super.finish());
    }
  };
}
