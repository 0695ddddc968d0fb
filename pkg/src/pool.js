// WorkerPool: many clients at once, one wasm instance and one backend per
// worker (Web Workers in browsers, worker_threads in Node.js). Tasks, data
// and updates cross as the engine's binary encodings in transferred
// buffers; the round (validation, aggregation) stays on the calling thread.
//
// Faults: a worker that dies (an uncaught error, an exit, a trap in its
// engine, or silence past `heartbeatTimeoutMs` while it runs a client) is
// replaced and its client rerun from the same task bytes, so the round's
// result does not change; a client that has killed `maxAttempts` workers
// fails the round with `worker_lost`. Nothing waits forever.
import { platform } from './platform.js';
import { ready, wasmModule } from './engine.js';
import { FedwasmError, checkOptions, wholeNumber } from './errors.js';
import { cancelledError } from './runner.js';

let nextJobId = 1;

export class WorkerPool {
  #size;
  #workers = [];
  #closed = false;
  #options;

  /** Use `WorkerPool.create`. */
  constructor(size, options, token) {
    if (token !== CREATE) throw new TypeError('use `await WorkerPool.create({ size })`');
    this.#size = size;
    this.#options = options;
  }

  /**
   * Starts `size` workers (default: the number of cores) and waits until
   * each has its engine.
   * @param {{ size?: number, wasmUrl?: string | URL, heartbeatTimeoutMs?: number, maxAttempts?: number }} [options]
   */
  static async create(options = {}) {
    checkOptions('WorkerPool.create', options, ['size', 'wasmUrl', 'heartbeatTimeoutMs', 'maxAttempts']);
    const size = options.size ?? platform().defaultPoolSize();
    wholeNumber('WorkerPool.create', 'size', size, 1);
    const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 120_000;
    wholeNumber('WorkerPool.create', 'heartbeatTimeoutMs', heartbeatTimeoutMs, 1);
    const maxAttempts = options.maxAttempts ?? 3;
    wholeNumber('WorkerPool.create', 'maxAttempts', maxAttempts, 1);
    await ready(options.wasmUrl === undefined ? {} : { wasmUrl: options.wasmUrl });
    const pool = new WorkerPool(size, { heartbeatTimeoutMs, maxAttempts }, CREATE);
    pool.#workers = await Promise.all(Array.from({ length: size }, () => startWorker()));
    return pool;
  }

  /** Number of workers. */
  get size() {
    return this.#size;
  }

  /** Stops every worker; the pool cannot be used afterwards. A round running in it rejects (`worker_lost`). */
  close() {
    this.#closed = true;
    this.#failRound?.(new FedwasmError('worker_lost', 'the WorkerPool was closed during a round'));
    for (const w of this.#workers) w.handle.terminate();
    this.#workers = [];
  }

  /**
   * Fault drills and tests: kills worker `index` now, as a browser killing a
   * worker would (terminated mid-client, no word from it); the pool replaces
   * it and reruns its client.
   */
  crashWorker(index) {
    wholeNumber('WorkerPool.crashWorker', 'index', index);
    const w = this.#workers[index];
    if (!w) throw new FedwasmError('invalid_argument', `invalid argument to WorkerPool.crashWorker: no worker ${index} (size ${this.#size})`);
    if (w.handle.onDeath) w.handle.onDeath(new Error('crash drill: the worker was killed'));
    else w.handle.terminate();
  }

  /** Workers replaced after a fault, since the pool was created. */
  get replacedWorkers() {
    return this.#replaced;
  }

  #replaced = 0;
  /** Rejects the round in progress (set while `run` runs). */
  #failRound = null;

  /**
   * Runs a round's jobs (see runner.js): each idle worker takes the next
   * one; results are reported as they come.
   */
  async run(modelSpec, jobs, options) {
    if (this.#closed) throw new FedwasmError('invalid_argument', 'invalid argument to LearningProcess.next: the WorkerPool is closed');
    if (options.signal?.aborted) throw cancelledError();
    const queue = jobs.map((job, index) => ({ job, index, attempts: 0 }));
    let remaining = jobs.length;
    if (remaining === 0) return;
    const { heartbeatTimeoutMs, maxAttempts } = this.#options;

    await new Promise((resolve, reject) => {
      let failed = false;
      const active = new Map(); // worker -> {entry, id, timer}

      const fail = (err) => {
        if (failed) return;
        failed = true;
        for (const [w, a] of active) {
          clearTimeout(a.timer);
          w.handle.post({ type: 'cancel', id: a.id });
          w.current = null;
          w.handle.busy(false);
        }
        active.clear();
        options.signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      this.#failRound = fail;
      const onAbort = () => fail(cancelledError());
      options.signal?.addEventListener('abort', onAbort, { once: true });

      const arm = (w) => {
        const a = active.get(w);
        if (!a) return;
        clearTimeout(a.timer);
        a.timer = setTimeout(() => {
          w.handle.onDeath?.(new Error(`no word from the worker for ${heartbeatTimeoutMs} ms`));
        }, heartbeatTimeoutMs);
      };

      const dispatch = () => {
        if (failed) return;
        for (const w of this.#workers) {
          if (queue.length === 0) break;
          if (w.current !== null || !w.alive) continue;
          const entry = queue.shift();
          entry.attempts += 1;
          const id = nextJobId++;
          w.current = id;
          active.set(w, { entry, id, timer: null });
          w.handle.busy(true);
          arm(w);
          // Copies are transferred: the originals stay for a rerun.
          const task = entry.job.task.slice().buffer;
          const data = entry.job.data.slice().buffer;
          const clientState = entry.job.clientState?.slice().buffer;
          w.handle.post(
            {
              type: 'run',
              id,
              modelSpec,
              task,
              data,
              clientState,
              backend: options.backend,
              yieldEvery: options.yieldEvery,
              yieldGapMs: options.yieldGapMs,
            },
            clientState ? [task, data, clientState] : [task, data],
          );
        }
      };

      const finishJob = (w) => {
        const a = active.get(w);
        clearTimeout(a.timer);
        active.delete(w);
        w.current = null;
        w.handle.busy(false);
        return a;
      };

      const onMessage = (w, m) => {
        if (failed) return;
        const a = active.get(w);
        if (!a || m.id !== a.id) return;
        arm(w);
        if (m.type === 'progress') {
          options.onClientProgress?.(a.entry.index, m.progress);
        } else if (m.type === 'done') {
          finishJob(w);
          try {
            options.onClientDone(a.entry.index, {
              update: new Uint8Array(m.update),
              clientState: m.clientState ? new Uint8Array(m.clientState) : undefined,
              backend: m.backend,
            });
          } catch (e) {
            fail(e);
            return;
          }
          remaining -= 1;
          if (remaining === 0) {
            options.signal?.removeEventListener('abort', onAbort);
            resolve();
          } else dispatch();
        } else if (m.type === 'error') {
          finishJob(w);
          const err = new FedwasmError(m.error.code, m.error.message, { reason: m.error.reason });
          if (m.fatal) onDeath(w, err, a.entry);
          else fail(err);
        }
      };

      const onDeath = (w, err, entry) => {
        if (!w.alive) return;
        w.alive = false;
        w.handle.terminate();
        const a = active.get(w);
        if (a) finishJob(w);
        entry = entry ?? a?.entry;
        const slot = this.#workers.indexOf(w);
        this.#replaced += 1;
        const replacement = startWorker().then(
          (nw) => {
            if (this.#closed) {
              nw.handle.terminate();
              return;
            }
            if (slot >= 0) this.#workers[slot] = nw;
            attach(nw);
            dispatch();
          },
          (e) => fail(new FedwasmError('worker_lost', `a worker died (${err.message}) and its replacement could not start: ${e.message}`)),
        );
        void replacement;
        if (entry && !failed) {
          if (entry.attempts >= maxAttempts) {
            fail(new FedwasmError('worker_lost', `client ${entry.index} was tried on ${entry.attempts} workers and each died (last: ${err.message})`, { cause: err }));
            return;
          }
          queue.unshift(entry);
          dispatch();
        }
      };

      const attach = (w) => {
        w.handle.onMessage = (m) => onMessage(w, m);
        w.handle.onDeath = (err) => onDeath(w, err);
      };
      for (const w of this.#workers) attach(w);
      dispatch();
    }).finally(() => {
      this.#failRound = null;
      // Idle workers report deaths to no round: they are replaced lazily.
      for (const w of this.#workers) {
        w.handle.onMessage = null;
        w.handle.onDeath = (err) => this.#replaceIdle(w, err);
      }
    });
  }

  #replaceIdle(w, _err) {
    if (!w.alive || this.#closed) return;
    w.alive = false;
    w.handle.terminate();
    this.#replaced += 1;
    const slot = this.#workers.indexOf(w);
    startWorker().then((nw) => {
      if (this.#closed) nw.handle.terminate();
      else if (slot >= 0) this.#workers[slot] = nw;
    }, () => {});
  }
}

const CREATE = Symbol('WorkerPool.create');

/** A started worker whose engine is ready. */
function startWorker() {
  return new Promise((resolve, reject) => {
    const handle = platform().createWorker();
    const w = { handle, alive: true, current: null };
    // Starting, the worker keeps Node.js running (we wait for it).
    handle.busy(true);
    handle.onMessage = (m) => {
      if (m.type === 'ready') {
        handle.busy(false);
        handle.onMessage = null;
        handle.onDeath = null;
        resolve(w);
      } else if (m.type === 'init_error') {
        handle.terminate();
        reject(new FedwasmError(m.error.code, m.error.message));
      }
    };
    handle.onDeath = (err) => {
      handle.terminate();
      reject(new FedwasmError('worker_lost', `a worker failed to start: ${err.message}`));
    };
    handle.post({ type: 'init', module: wasmModule() });
  });
}
