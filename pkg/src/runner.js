// Where clients run. A runner takes a round's jobs (task, data and client
// state bytes) and calls back with each client's progress and result; the
// round itself (tasks out, updates in, aggregation) is the same whichever
// runner it uses: `inlineRunner` (this thread, one client after another) or
// a `WorkerPool`.
import { engine } from './engine.js';
import { FedwasmError, toFedwasmError } from './errors.js';

/**
 * @typedef {{ task: Uint8Array, data: Uint8Array, clientState?: Uint8Array }} Job
 * @typedef {{ update: Uint8Array, clientState?: Uint8Array, backend: {kind: string, adapter: string, software: boolean} }} JobResult
 * @typedef {{ backend: string, yieldEvery?: number, yieldGapMs?: number, signal?: AbortSignal,
 *   onClientProgress?: (job: number, progress: object) => void,
 *   onClientDone: (job: number, result: JobResult) => void }} RunOptions
 */

export function cancelledError(op = 'LearningProcess.next') {
  return new FedwasmError('cancelled', `${op} was cancelled`);
}

/** Runs the jobs one after another on this thread. */
export const inlineRunner = {
  size: 0,
  /** @param {string} modelSpec @param {Job[]} jobs @param {RunOptions} options */
  async run(modelSpec, jobs, options) {
    for (let i = 0; i < jobs.length; i++) {
      if (options.signal?.aborted) throw cancelledError();
      const job = jobs[i];
      let result;
      try {
        result = await engine().runClient(modelSpec, job.task, job.data, job.clientState, {
          backend: options.backend,
          yieldEvery: options.yieldEvery,
          yieldGapMs: options.yieldGapMs,
          signal: options.signal,
          onProgress: (p) => options.onClientProgress?.(i, p),
        });
      } catch (e) {
        throw toFedwasmError(e);
      }
      options.onClientDone(i, {
        update: result.update,
        clientState: result.clientState,
        backend: JSON.parse(result.backend),
      });
    }
  },
};
