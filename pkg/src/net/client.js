// A real federated client: `connect(url, { token, data, backend, storage })`
// joins a coordinator (pkg/PROTOCOL.md) from a browser tab or Node.js,
// trains each task it is given on its own examples (runClient: the same
// engine call a simulated client makes) and reports the update. Examples,
// and a FedRecon client's reconstructed local variables, never leave it:
// the variables go to `storage` (IndexedDB in a browser, a directory in
// Node.js), the update has only the global variables' deltas.
//
// It reconnects after a drop with exponential backoff and jitter, and
// checks in again; a task in progress when the connection drops is
// abandoned (the coordinator has already counted it as dropped).
import { ready, engine } from '../engine.js';
import { platform } from '../platform.js';
import { checkOptions, describe, FedwasmError, invalid, toFedwasmError } from '../errors.js';
import { ClientData } from '../data.js';
import { encodeFrame, decodeFrame } from './frames.js';
import { toStorage } from './storage.js';

const PROGRESS_EVERY_MS = 500;
const RETRYABLE = new Set(['token_in_use']);

/**
 * Joins the coordinator at `url` (`ws://` or `wss://`).
 * @param {string | URL} url
 * @param {{ token: string, data: ClientData, testData?: ClientData, clientId?: string, backend?: 'auto' | 'webgpu' | 'cpu',
 *   storage?: string | false | { get(key: string): Promise<Uint8Array | undefined>, set(key: string, bytes: Uint8Array): Promise<void> },
 *   reconnect?: { initialDelayMs?: number, maxDelayMs?: number, maxAttempts?: number },
 *   yieldEvery?: number, yieldGapMs?: number, WebSocket?: Function, name?: string }} options
 * @returns {FederatedClient}
 */
export function connect(url, options) {
  const op = 'connect';
  options = checkOptions(op, options, ['token', 'data', 'testData', 'clientId', 'backend', 'storage', 'reconnect', 'yieldEvery', 'yieldGapMs', 'WebSocket', 'name']);
  const u = String(url);
  if (!/^wss?:\/\//.test(u)) throw invalid(op, `url must start with ws:// or wss://, got ${describe(url)}`);
  if (typeof options.token !== 'string' || options.token === '') throw invalid(op, 'token must be a non-empty string');
  if (!(options.data instanceof ClientData)) throw invalid(op, `data must be a ClientData (ClientData.fromImages, fromCsv, ...), got ${describe(options.data)}`);
  const ids = options.data.clientIds;
  const clientId = options.clientId ?? (ids.length === 1 ? ids[0] : undefined);
  if (clientId === undefined) throw invalid(op, `data holds ${ids.length} clients: say which is this one with clientId`);
  if (!ids.includes(clientId)) throw invalid(op, `clientId ${describe(clientId)} is not in data`);
  if (options.testData !== undefined) {
    if (!(options.testData instanceof ClientData)) throw invalid(op, `testData must be a ClientData, got ${describe(options.testData)}`);
    if (!options.testData.clientIds.includes(clientId)) throw invalid(op, `testData has no client ${describe(clientId)}`);
  }
  const backend = options.backend ?? 'auto';
  if (!['auto', 'webgpu', 'cpu'].includes(backend)) throw invalid(op, `backend must be 'auto', 'webgpu' or 'cpu', got ${describe(backend)}`);
  const reconnect = checkOptions(`${op} reconnect`, options.reconnect ?? {}, ['initialDelayMs', 'maxDelayMs', 'maxAttempts']);
  const storage = toStorage(options.storage, platform());
  return new FederatedClient(u, {
    token: options.token,
    examples: options.data.clientBytes(clientId),
    // Evaluation tasks run on `testData` (this client's held-out examples), else on `data`.
    testExamples: (options.testData ?? options.data).clientBytes(clientId),
    backend,
    storage,
    WebSocket: options.WebSocket,
    name: options.name,
    yieldEvery: options.yieldEvery,
    yieldGapMs: options.yieldGapMs,
    reconnect: {
      initialDelayMs: reconnect.initialDelayMs ?? 500,
      maxDelayMs: reconnect.maxDelayMs ?? 30_000,
      maxAttempts: reconnect.maxAttempts ?? Infinity,
    },
  });
}

export class FederatedClient {
  #url;
  #o;
  #ws = null;
  #listeners = new Map();
  #state = 'connecting';
  #welcome = null;
  #attempt = 0;
  #closedByUser = false;
  #running = null; // { number, controller }
  #timer = null;
  #reports = 0;
  #done;
  #resolve;
  #reject;
  #settled = false;

  /** @internal Use `connect(url, options)`. */
  constructor(url, o) {
    this.#url = url;
    this.#o = o;
    this.#done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // `done` rejecting with no one awaiting it must not crash a program that only listens to events.
    this.#done.catch(() => {});
    this.#open();
  }

  /** `connecting`, `waiting`, `training`, `done` or `closed`. */
  get state() {
    return this.#state;
  }

  /** The coordinator's welcome (client key, algorithm, round), once connected. */
  get welcome() {
    return this.#welcome;
  }

  /** Updates this client has had accepted. */
  get reports() {
    return this.#reports;
  }

  /** Resolves `{ rounds, reports }` when the coordinator has finished (or `close()`); rejects on a fatal refusal (unknown token). */
  get done() {
    return this.#done;
  }

  /**
   * Listens to `event`: `connect`, `welcome`, `roundstart`, `progress`,
   * `report`, `accepted`, `roundclosed`, `error`, `disconnect`, `done`.
   * Returns a function that stops listening.
   */
  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return () => this.#listeners.get(event)?.delete(fn);
  }

  #emit(event, detail) {
    for (const fn of this.#listeners.get(event) ?? []) {
      try {
        fn(detail);
      } catch (e) {
        console.error(`fedwasm client: a ${event} listener threw`, e);
      }
    }
  }

  /**
   * This client's stored local variables (FedRecon: FWCS bytes, written
   * after every round it trained in), or undefined.
   */
  async localState() {
    if (!this.#o.storage || !this.#welcome) return undefined;
    return this.#o.storage.get(this.#storageKey());
  }

  #storageKey() {
    return `${this.#welcome.taskId.slice(0, 16)}-client-${this.#welcome.clientKey}`;
  }

  /** Leaves: aborts a task in progress and closes the connection; `done` resolves. */
  close() {
    this.#closedByUser = true;
    clearTimeout(this.#timer);
    this.#running?.controller.abort();
    this.#ws?.close(1000, 'client closed');
    this.#state = 'closed';
    this.#settle(null);
  }

  #settle(error) {
    if (this.#settled) return;
    this.#settled = true;
    if (error) this.#reject(error);
    else this.#resolve({ rounds: this.#welcome?.rounds ?? 0, reports: this.#reports });
  }

  async #open() {
    if (this.#closedByUser) return;
    this.#state = 'connecting';
    let WS;
    try {
      WS = this.#o.WebSocket ?? (await platform().webSocket());
      await ready();
    } catch (e) {
      this.#fail(toFedwasmError(e));
      return;
    }
    if (this.#closedByUser) return;
    let ws;
    try {
      ws = new WS(this.#url);
    } catch (e) {
      this.#fail(new FedwasmError('invalid_argument', `connect: ${e.message}`));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.onopen = () => {
      this.#emit('connect', { url: this.#url, attempt: this.#attempt });
      this.#send({ type: 'hello', meta: { token: this.#o.token, backend: this.#o.backend, name: this.#o.name } });
    };
    ws.onmessage = (ev) => this.#message(ev.data);
    ws.onerror = () => {};
    ws.onclose = (ev) => this.#closed(ev.code, ev.reason);
  }

  #fail(error) {
    this.#state = 'closed';
    this.#emit('error', { error });
    this.#settle(error);
  }

  #send(frame) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(encodeFrame(frame));
    return true;
  }

  #closed(code, reason) {
    this.#ws = null;
    this.#running?.controller.abort();
    this.#running = null;
    if (this.#closedByUser || this.#state === 'done' || this.#settled) {
      this.#emit('disconnect', { code, reason: String(reason ?? ''), willReconnect: false });
      return;
    }
    const r = this.#o.reconnect;
    if (this.#attempt >= r.maxAttempts) {
      this.#emit('disconnect', { code, reason: String(reason ?? ''), willReconnect: false });
      this.#fail(new FedwasmError('io', `connect: the connection to ${this.#url} closed (${code}) and ${r.maxAttempts} reconnects failed`));
      return;
    }
    // Exponential backoff with jitter: a crowd of clients a restarted coordinator lost does not come back at once.
    const base = Math.min(r.maxDelayMs, r.initialDelayMs * 2 ** this.#attempt);
    const delayMs = Math.round(base * (0.5 + Math.random() / 2));
    this.#attempt += 1;
    this.#state = 'connecting';
    if (code === 1009) this.#emit('error', { error: new FedwasmError('limit', `the coordinator refused a message over its size limit (${reason})`, { reason: 'oversized' }) });
    this.#emit('disconnect', { code, reason: String(reason ?? ''), willReconnect: true, delayMs });
    this.#timer = setTimeout(() => this.#open(), delayMs);
  }

  #message(data) {
    let frame;
    try {
      frame = decodeFrame(new Uint8Array(data));
    } catch (e) {
      this.#emit('error', { error: e });
      return;
    }
    const m = frame.meta;
    switch (frame.type) {
      case 'welcome':
        this.#welcome = { ...m, fingerprint: frame.fingerprint };
        this.#attempt = 0;
        this.#emit('welcome', this.#welcome);
        if (m.done || this.#closedByUser) return;
        this.#state = 'waiting';
        this.#send({ type: 'ready' });
        break;
      case 'task':
        this.#train(frame);
        break;
      case 'accepted':
        this.#reports += 1;
        this.#emit('accepted', { round: m.round ?? Number(frame.round) + 1, task: m.task });
        this.#checkIn();
        break;
      case 'round_closed':
        if (this.#running && this.#running.number === m.task) {
          this.#running.controller.abort();
          this.#running = null;
        }
        this.#emit('roundclosed', { task: m.task, reason: m.reason });
        this.#checkIn();
        break;
      case 'error': {
        const error = new FedwasmError(m.code ?? 'refused', `the coordinator refused a message: ${m.message ?? m.reason}`, { reason: m.reason });
        this.#emit('error', { error });
        if (m.fatal && !RETRYABLE.has(m.reason)) this.#fail(error);
        else if (this.#state === 'reporting') this.#checkIn();
        break;
      }
      case 'done':
        this.#state = 'done';
        this.#emit('done', { rounds: m.rounds });
        this.#settle(null);
        this.#ws?.close(1000, 'done');
        break;
      default:
        break;
    }
  }

  #checkIn() {
    if (this.#running || this.#state === 'done' || this.#closedByUser) return;
    this.#state = 'waiting';
    this.#send({ type: 'ready' });
  }

  async #train(frame) {
    const m = frame.meta;
    this.#running?.controller.abort();
    const controller = new AbortController();
    const job = { number: m.task, controller };
    this.#running = job;
    this.#state = 'training';
    this.#emit('roundstart', { round: m.round, task: m.task, deadline: m.deadline, kind: m.kind });
    let lastProgress = 0;
    try {
      const training = m.kind !== 'evaluate';
      const result = await engine().runClient(this.#welcome.modelSpec, frame.body, training ? this.#o.examples : this.#o.testExamples, undefined, {
        backend: this.#o.backend,
        signal: controller.signal,
        keepLocals: training && this.#welcome.keepsLocals === true,
        ...(this.#o.yieldEvery === undefined ? {} : { yieldEvery: this.#o.yieldEvery }),
        ...(this.#o.yieldGapMs === undefined ? {} : { yieldGapMs: this.#o.yieldGapMs }),
        onProgress: (p) => {
          this.#emit('progress', { round: m.round, ...p });
          const now = Date.now();
          if (now - lastProgress >= PROGRESS_EVERY_MS) {
            lastProgress = now;
            this.#send({ type: 'progress', round: frame.round, meta: { task: m.task, examples: p.examples, batches: p.batches, phase: p.phase } });
          }
        },
      });
      if (this.#running !== job) return;
      if (result.clientState && this.#o.storage) await this.#o.storage.set(this.#storageKey(), result.clientState);
      if (this.#running !== job) return;
      this.#running = null;
      this.#state = 'reporting';
      const sent = this.#send({ type: 'report', round: frame.round, fingerprint: frame.fingerprint, meta: { task: m.task }, body: result.update });
      if (sent) this.#emit('report', { round: m.round, task: m.task, bytes: result.update.length, backend: JSON.parse(result.backend) });
    } catch (raw) {
      if (this.#running === job) this.#running = null;
      const e = toFedwasmError(raw);
      if (e?.code === 'cancelled') return;
      this.#emit('error', { error: e });
      // Data that does not fit the model (code `dataset`) will not fit next
      // round either: leave, rather than fail every round.
      if (e?.code === 'dataset') {
        this.#fail(e);
        this.#ws?.close(1000, 'data does not fit the model');
        return;
      }
      this.#checkIn();
    }
  }
}
