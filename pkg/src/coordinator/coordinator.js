// The round coordinator: clients connect and authenticate, check in and
// wait; each round selects ceil(clientsPerRound * overSelection) of the
// waiting clients, sends each its task, validates and aggregates each
// report as it arrives, and closes as soon as clientsPerRound reports are
// in, or at the deadline with at least minReports (otherwise the round is
// abandoned and retried, and the log says why). After every completed
// round it writes a checkpoint; started again on the same state directory,
// it resumes after the last completed round.
//
// Transport-free: `server.js` feeds it connections (anything with
// `send(bytes)` and `close(code, reason)`) and their binary messages, so
// the same round logic serves WebSocket clients and in-process tests.
import { randomBytes, createHash, timingSafeEqual, randomInt } from 'node:crypto';
import { FedwasmError, toFedwasmError } from '../errors.js';
import { encodeFrame, decodeFrame, readU64, PROTOCOL_VERSION } from '../net/frames.js';
import { CheckpointStore } from './checkpoint.js';
import { MemoryRoundStore } from './round-store.js';
import { LearningProcessState } from '../process.js';

/** WebSocket close codes the coordinator uses (4000-4999: the application's). */
export const CLOSE = Object.freeze({ unauthorized: 4001, tokenInUse: 4002, protocol: 4003, helloTimeout: 4004, shutdown: 1001 });

const HELLO_TIMEOUT_MS = 10_000;
// Refused messages after which a connection is closed.
const MAX_REFUSALS = 100;
// Tasks being written to the network at once (see #attempt).
const TASK_LANES = 4;
// FWUP: magic[4] version:u32 round_id:u64 model_fingerprint:u64 client_key:u64 ...
const UPDATE_CLIENT_KEY_AT = 24;

function hashToken(t) {
  return createHash('sha256').update(String(t)).digest();
}

export class Coordinator {
  #task;
  #rounds;
  #checkpoints;
  #log;
  #specJson;
  #state = null; // FWCK bytes of the last completed round
  #round = 0; // rounds completed
  #history = [];
  #tokenHashes;
  #clients = new Map(); // connection -> client record
  #keysInUse = new Map(); // client key -> client record
  #phase = 'starting';
  #current = null; // the open round
  #taskNumber = 0;
  #attempts = 0; // attempts of the current round index
  #refusals = {};
  #started = Date.now();
  #wake = null;
  #stopped = false;
  #done;
  #resolveDone;

  /**
   * @param {object} task a checked task (parseTask / readTaskFile)
   * @param {{ aggregator: object, stateDir?: string, log?: (line: string) => void, roundStore?: object }} options
   */
  constructor(task, { aggregator, stateDir = null, log = defaultLog, roundStore = null }) {
    this.#task = task;
    this.#rounds = roundStore ?? new MemoryRoundStore(aggregator);
    this.#checkpoints = stateDir ? new CheckpointStore(stateDir) : null;
    this.#log = log;
    this.#specJson = JSON.stringify(task.process.spec, (_, v) => (typeof v === 'bigint' ? Number(v) : v));
    this.#tokenHashes = task.tokens.map(hashToken);
    this.#done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** Resolves when every round is complete (or the coordinator is stopped). */
  get done() {
    return this.#done;
  }

  /** Rounds completed. */
  get round() {
    return this.#round;
  }

  /** Metrics of every completed round, in order. */
  get history() {
    return this.#history.map((h) => ({ ...h }));
  }

  /** The current state (FWCK bytes) of the process. */
  get state() {
    return this.#state;
  }

  /** Loads the checkpoint (or the initial state) and starts the rounds. */
  async start() {
    const saved = this.#checkpoints ? await this.#checkpoints.load() : null;
    if (saved) {
      if (saved.taskFingerprint !== this.#task.fingerprint) {
        throw new FedwasmError('refused', `the checkpoint in ${this.#checkpoints.path} is of another task (task ${saved.taskFingerprint.slice(0, 12)}, this task ${this.#task.fingerprint.slice(0, 12)}): use another --state-dir or the task it was made with`, { reason: 'task_fingerprint' });
      }
      this.#state = saved.state;
      this.#round = saved.round;
      this.#history = saved.history;
      this.#log(`resumed from ${this.#checkpoints.path}: ${this.#round} of ${this.#task.rounds} rounds complete`);
    } else {
      this.#state = (await this.#task.process.initialize()).toBytes();
      this.#log(`task ${this.#task.fingerprint.slice(0, 12)}: ${this.#task.algorithm}, ${this.#task.rounds} rounds, ${this.#task.clientsPerRound} clients per round (${this.#task.selectCount} selected)`);
    }
    // The model fingerprint, as the engine writes it into every task
    // (FWTK: magic, version, round id, then the fingerprint at byte 16).
    const probe = this.#rounds.begin(this.#specJson, this.#state);
    try {
      this.#modelFingerprint = readU64(probe.task(0, JSON.stringify(this.#task.plan)), 16);
    } finally {
      probe.abandon();
    }
    this.#loop().catch((e) => {
      this.#phase = 'failed';
      this.#failure = String(e?.message ?? e);
      this.#log(`coordinator failed: ${e.stack ?? e}`);
      for (const c of this.#clients.values()) c.conn.close(CLOSE.shutdown, 'coordinator failed');
      this.#finish(e);
    });
  }

  /** Stops: closes every connection; `done` resolves. */
  stop() {
    this.#stopped = true;
    this.#current?.store.abandon();
    for (const c of this.#clients.values()) c.conn.close(CLOSE.shutdown, 'coordinator stopping');
    this.#signal();
    this.#finish();
  }

  /** `done` resolves `{ round, history }`, with `error` when the coordinator failed (a checkpoint it could not write, ...). */
  #finish(error) {
    this.#resolveDone(error ? { round: this.#round, history: this.history, error } : { round: this.#round, history: this.history });
  }

  #failure = null;

  // ---- connections ----

  /** A new connection; returns its `{ message(bytes), closed() }` handlers. */
  connect(conn, remote = '') {
    const client = { conn, remote, key: null, state: 'hello', task: null, progress: null, connectedAt: Date.now() };
    this.#clients.set(conn, client);
    client.helloTimer = setTimeout(() => {
      if (client.state === 'hello') this.#drop(client, CLOSE.helloTimeout, 'no hello in time');
    }, HELLO_TIMEOUT_MS);
    return {
      message: (bytes, how) => this.#message(client, bytes, how),
      closed: () => this.#closed(client),
    };
  }

  /** Connections now. */
  get connections() {
    return this.#clients.size;
  }

  /** Sends one frame; resolves once it is handed to the network (or failed, logged). */
  async #send(client, frame) {
    try {
      await client.conn.send(encodeFrame(frame));
    } catch (e) {
      this.#log(`send to ${this.#who(client)} failed: ${e.message}`);
    }
  }

  #who(client) {
    return client.key === null ? `connection ${client.remote}` : `client ${client.key}`;
  }

  /** Refuses one message: an error frame to that client, one log line; the round goes on. */
  #refuse(client, reason, message, { fatal = false, round } = {}) {
    this.#refusals[reason] = (this.#refusals[reason] ?? 0) + 1;
    if (this.#current?.outstanding.has(client)) this.#current.refused += 1;
    client.refusals = (client.refusals ?? 0) + 1;
    this.#log(`refused from ${this.#who(client)}: ${reason}: ${message}`);
    this.#send(client, { type: 'error', round, meta: { code: fatal ? 'unauthorized' : 'refused', reason, message, fatal } });
    // A connection that keeps sending what is refused is let go.
    if (!fatal && client.refusals >= MAX_REFUSALS) {
      this.#log(`${this.#who(client)}: ${client.refusals} messages refused; closing the connection`);
      this.#drop(client, CLOSE.protocol, 'too many refused messages');
    }
  }

  /**
   * Tells the transport whether a report (a large message) is awaited from
   * this client, from its selection to its report or its round's close: the
   * server's upload gate may leave such a connection unread while every
   * upload slot is taken (`conn.expectUpload` is optional).
   */
  #expectUpload(client, expected) {
    client.conn.expectUpload?.(expected);
  }

  #drop(client, code, reason) {
    client.conn.close(code, reason);
  }

  #message(client, bytes, { text = false } = {}) {
    if (text) {
      const fatal = client.state === 'hello';
      this.#refuse(client, 'text', 'frames are binary messages; a text message was sent', { fatal });
      if (fatal) this.#drop(client, CLOSE.protocol, 'hello first');
      return;
    }
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (e) {
      // Before hello, anything unreadable ends the connection.
      const fatal = client.state === 'hello';
      this.#refuse(client, e.reason ?? 'malformed', e.message, { fatal });
      if (fatal) this.#drop(client, CLOSE.protocol, 'hello first');
      return;
    }
    if (client.state === 'hello') {
      if (frame.type !== 'hello') {
        this.#refuse(client, 'unauthenticated', `the first message must be hello, got ${frame.type}`, { fatal: true });
        this.#drop(client, CLOSE.protocol, 'hello first');
        return;
      }
      this.#hello(client, frame);
      return;
    }
    switch (frame.type) {
      case 'ready':
        if (client.state === 'selected') {
          // A client that checks in again gave up its task.
          this.#release(client, 'checked in again');
        }
        client.state = 'waiting';
        this.#signal();
        break;
      case 'progress':
        if (client.state === 'selected' && frame.meta.task === client.task?.number) {
          client.progress = { examples: Number(frame.meta.examples) || 0, batches: Number(frame.meta.batches) || 0 };
        }
        break;
      case 'report':
        this.#report(client, frame);
        break;
      default:
        this.#refuse(client, 'type', `a client does not send ${frame.type} messages`);
    }
  }

  #hello(client, frame) {
    clearTimeout(client.helloTimer);
    const token = frame.meta.token;
    const index = this.#tokenIndex(typeof token === 'string' ? token : '');
    if (index < 0) {
      this.#refuse(client, 'unknown_token', 'unknown token', { fatal: true });
      this.#drop(client, CLOSE.unauthorized, 'unknown token');
      return;
    }
    const key = index;
    if (this.#keysInUse.has(key)) {
      this.#refuse(client, 'token_in_use', 'this token is connected already', { fatal: true });
      this.#drop(client, CLOSE.tokenInUse, 'token in use');
      return;
    }
    client.key = key;
    client.state = 'idle';
    client.backend = typeof frame.meta.backend === 'string' ? frame.meta.backend.slice(0, 64) : undefined;
    this.#keysInUse.set(key, client);
    this.#send(client, {
      type: 'welcome',
      fingerprint: this.#fingerprint(),
      meta: {
        protocol: PROTOCOL_VERSION,
        clientKey: key,
        taskId: this.#task.fingerprint,
        algorithm: this.#task.process.name,
        modelSpec: this.#task.modelSpec,
        keepsLocals: this.#task.process.name === 'fed_recon',
        round: this.#round,
        rounds: this.#task.rounds,
        done: this.#phase === 'done',
      },
    });
    if (this.#phase === 'done') this.#send(client, { type: 'done', meta: { rounds: this.#round } });
  }

  /** The index of `token` among the task's tokens, comparing every one in constant time; -1 if none. */
  #tokenIndex(token) {
    const h = hashToken(token);
    let found = -1;
    for (let i = 0; i < this.#tokenHashes.length; i++) {
      if (timingSafeEqual(h, this.#tokenHashes[i]) && found < 0) found = i;
    }
    return found;
  }

  #fingerprint() {
    return this.#modelFingerprint;
  }

  #modelFingerprint = 0n;

  #closed(client) {
    clearTimeout(client.helloTimer);
    this.#clients.delete(client.conn);
    if (client.key !== null && this.#keysInUse.get(client.key) === client) this.#keysInUse.delete(client.key);
    if (client.state === 'selected' && this.#current?.outstanding.has(client)) {
      this.#current.dropped += 1;
      this.#release(client, 'disconnected');
    }
    client.state = 'gone';
  }

  #release(client, why) {
    const r = this.#current;
    if (r && r.outstanding.delete(client)) {
      client.lastTask = client.task?.number;
      client.task = null;
      this.#expectUpload(client, false);
      this.#log(`client ${client.key} gave up its task of ${r.kind === 'train' ? 'round' : 'the evaluation after round'} ${r.round}: ${why}`);
      this.#signal();
    }
  }

  // ---- reports ----

  #report(client, frame) {
    const r = this.#current;
    const number = frame.meta.task;
    if (!r || client.state !== 'selected' || client.task?.number !== number) {
      const late = client.lastTask !== undefined && number === client.lastTask;
      this.#refuse(client, late ? 'late' : 'not_selected',
        late ? `the round of task ${number} has closed` : `no open task ${JSON.stringify(number)} for this client`);
      return;
    }
    if (frame.round !== r.roundId) {
      this.#refuse(client, 'wrong_round', `the report is for round ${frame.round}; round ${r.roundId} is open`, { round: r.roundId });
      return;
    }
    if (frame.fingerprint !== this.#fingerprint()) {
      this.#refuse(client, 'fingerprint', `the report is for model ${frame.fingerprint.toString(16)}, not ${this.#fingerprint().toString(16)}`);
      return;
    }
    const update = frame.body;
    if (update.length < UPDATE_CLIENT_KEY_AT + 8 || readU64(update, UPDATE_CLIENT_KEY_AT) !== BigInt(client.key)) {
      this.#refuse(client, 'client_key', 'the update is not this client\'s (its client key differs)');
      return;
    }
    try {
      r.store.accept(update, this.#task.limits.updateNorm);
    } catch (raw) {
      const e = toFedwasmError(raw);
      this.#refuse(client, e.reason ?? e.code ?? 'refused', e.message, { round: r.roundId });
      return;
    }
    r.outstanding.delete(client);
    r.reported += 1;
    client.lastTask = client.task.number;
    client.task = null;
    client.state = 'idle';
    this.#expectUpload(client, false);
    this.#send(client, { type: 'accepted', round: r.roundId, meta: { task: number, kind: r.kind, round: r.round, accepted: r.store.accepted } });
    this.#signal();
  }

  // ---- rounds ----

  #signal() {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Waits until something changes (a client checks in, reports or leaves), or `ms`. */
  #waitChange(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, Math.max(0, ms));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #waiting() {
    return [...this.#clients.values()].filter((c) => c.state === 'waiting');
  }

  async #loop() {
    while (!this.#stopped) {
      if (this.#evaluationDue()) {
        await this.#evaluate();
        continue;
      }
      if (this.#round >= this.#task.rounds) break;
      const closed = await this.#train();
      if (!closed && !this.#stopped) this.#attempts += 1;
    }
    if (this.#stopped) return;
    this.#phase = 'done';
    this.#log(`all ${this.#task.rounds} rounds complete`);
    for (const c of this.#clients.values()) if (c.key !== null) this.#send(c, { type: 'done', meta: { rounds: this.#round } });
    this.#finish();
  }

  /** One attempt at the next training round: true when it closed, false when abandoned. */
  async #train() {
    const t = this.#task;
    const r = await this.#attempt({
      kind: 'train',
      label: `round ${this.#round + 1}`,
      round: this.#round + 1,
      specJson: this.#specJson,
      state: this.#state,
      clientsPerRound: t.clientsPerRound,
      selectCount: t.selectCount,
      minReports: t.minReports,
      deadlineSeconds: t.reportDeadlineSeconds,
      attempt: this.#attempts,
    });
    if (!r) return false;
    const entry = { round: this.#round + 1, metrics: r.metrics, ...r.stats };
    this.#state = r.state;
    this.#round += 1;
    this.#history.push(entry);
    this.#attempts = 0;
    await this.#checkpoint(entry);
    this.#log(`round ${entry.round} closed (${entry.closedBy}) in ${entry.seconds.toFixed(2)} s: ${entry.reported} reports, ${entry.dropped} dropped, ${entry.refused} refused; ${summary(r.metrics)}`);
    return true;
  }

  async #checkpoint(entry) {
    if (!this.#checkpoints) return;
    entry.checkpointBytes = await this.#checkpoints.save({ taskFingerprint: this.#task.fingerprint, round: this.#round, history: this.#history, state: this.#state });
  }

  /** Whether the last completed round is due a federated evaluation it has not had. */
  #evaluationDue() {
    const e = this.#task.evaluation;
    const last = this.#history.at(-1);
    if (!e || !last || last.round !== this.#round || last.evaluation) return false;
    return this.#round % e.every === 0 || this.#round === this.#task.rounds;
  }

  /**
   * A federated evaluation round of the current model (after a training
   * round): its metrics go into that round's history entry as
   * `evaluation`, and into the checkpoint. Tried twice; then recorded as
   * abandoned, and training goes on.
   */
  async #evaluate() {
    const e = this.#task.evaluation;
    const train = this.#task.process;
    const evalProcess = e.process;
    this.#evalInitial ??= await evalProcess.initialize();
    const weights = train.getModelWeights(LearningProcessState.fromBytes(this.#state));
    const state = evalProcess.setModelWeights(this.#evalInitial, weights).toBytes();
    this.#evalSpecJson ??= JSON.stringify(evalProcess.spec, (_, v) => (typeof v === 'bigint' ? Number(v) : v));
    const entry = this.#history.at(-1);
    let result = null;
    let attempt = 0;
    for (; attempt < 2 && !result && !this.#stopped; attempt++) {
      result = await this.#attempt({
        kind: 'evaluate',
        label: `evaluation after round ${this.#round}`,
        round: this.#round,
        specJson: this.#evalSpecJson,
        state,
        clientsPerRound: e.clientsPerRound,
        selectCount: Math.ceil(e.clientsPerRound * this.#task.overSelection),
        minReports: e.minReports,
        deadlineSeconds: e.reportDeadlineSeconds,
        attempt,
      });
    }
    if (this.#stopped) return;
    entry.evaluation = result
      ? { metrics: result.metrics, ...result.stats }
      : { abandoned: true, attempts: attempt, why: this.#lastAbandoned?.why ?? 'abandoned' };
    await this.#checkpoint(entry);
    this.#log(result ? `evaluation after round ${this.#round}: ${result.stats.reported} reports; ${summary(result.metrics)}` : `evaluation after round ${this.#round} abandoned twice; training goes on`);
  }

  /**
   * Ends round `r` for the clients still working on it: they are told to
   * stop and their late reports are refused; one whose task is still being
   * written (a client that does not read) is disconnected.
   */
  #closeOutstanding(r, why, { notify = true } = {}) {
    this.#current = null;
    for (const c of r.outstanding) {
      c.lastTask = c.task?.number;
      c.task = null;
      c.state = 'idle';
      this.#expectUpload(c, false);
      if (!notify) continue;
      if (c.sending) this.#drop(c, CLOSE.protocol, 'too slow to take its task');
      else this.#send(c, { type: 'round_closed', round: r.roundId, meta: { task: c.lastTask, reason: why } });
    }
    r.outstanding.clear();
  }

  #evalInitial = null;
  #evalSpecJson = null;

  /**
   * One attempt at a round of `plan.kind` ('train' or 'evaluate'): selects,
   * sends the tasks, takes reports until it closes. Resolves `{ state,
   * metrics, stats }`, or null when abandoned (too few reports).
   */
  async #attempt(plan) {
    const t = this.#task;
    this.#phase = 'selecting';
    const since = Date.now();
    let said = -1;
    for (;;) {
      if (this.#stopped) return null;
      const n = this.#waiting().length;
      const waited = Date.now() - since;
      if (n >= plan.selectCount || (n >= plan.minReports && waited >= t.selectionTimeoutSeconds * 1000)) break;
      if (n !== said && waited >= 1000) {
        said = n;
        this.#log(`${plan.label}: ${n} clients waiting, need ${plan.selectCount} (or ${plan.minReports} after ${t.selectionTimeoutSeconds} s)`);
      }
      await this.#waitChange(n >= plan.minReports ? t.selectionTimeoutSeconds * 1000 - waited : 1000);
    }
    const waiting = this.#waiting();
    // A uniform sample of the waiting clients (partial Fisher-Yates).
    const k = Math.min(plan.selectCount, waiting.length);
    for (let i = 0; i < k; i++) {
      const j = i + randomInt(waiting.length - i);
      [waiting[i], waiting[j]] = [waiting[j], waiting[i]];
    }
    const selected = waiting.slice(0, k);
    const store = this.#rounds.begin(plan.specJson, plan.state);
    const startedAt = Date.now();
    const deadline = startedAt + plan.deadlineSeconds * 1000;
    const r = {
      kind: plan.kind,
      round: plan.round,
      attempt: plan.attempt,
      store,
      roundId: store.roundId,
      startedAt,
      deadline,
      selected: selected.length,
      outstanding: new Set(selected),
      reported: 0,
      refused: 0,
      dropped: 0,
    };
    this.#current = r;
    this.#phase = plan.kind === 'train' ? 'training' : 'evaluating';
    const planJson = JSON.stringify(plan.kind === 'train' ? t.plan : t.evaluationPlan);
    const fingerprint = this.#fingerprint();
    for (const c of selected) {
      c.state = 'selected';
      c.task = { number: ++this.#taskNumber };
      c.progress = null;
      this.#expectUpload(c, true);
    }
    // Tasks go out a few at a time, each written once the one before it in
    // its lane has been handed to the network: a task holds the whole model,
    // so building them all at once would cost the model's size per client.
    const sendTask = async (c) => {
      if (this.#current !== r || c.state !== 'selected' || !r.outstanding.has(c)) return;
      const fwtk = store.task(c.key, planJson);
      c.sending = true;
      await this.#send(c, {
        type: 'task',
        round: r.roundId,
        fingerprint,
        meta: { task: c.task.number, kind: plan.kind, round: plan.round, deadline, deadlineSeconds: plan.deadlineSeconds },
        body: fwtk,
      });
      c.sending = false;
    };
    const queue = [...selected];
    const lanes = Array.from({ length: Math.min(TASK_LANES, queue.length) }, async () => {
      while (queue.length > 0) await sendTask(queue.shift());
    });
    Promise.all(lanes).catch((e) => {
      this.#log(`sending the tasks of ${plan.label} failed: ${e.stack ?? e}`);
    });
    // The lanes stop at the round's close: sendTask checks #current first,
    // and uses the store only before it awaits the network.
    this.#log(`${plan.label}${plan.attempt ? ` (attempt ${plan.attempt + 1})` : ''}: ${selected.length} clients selected, deadline ${plan.deadlineSeconds} s`);
    let why;
    for (;;) {
      if (this.#stopped) {
        this.#closeOutstanding(r, 'the coordinator is stopping', { notify: false });
        store.abandon();
        return null;
      }
      if (r.reported >= plan.clientsPerRound) {
        why = `${r.reported} reports`;
        break;
      }
      const now = Date.now();
      if (now >= deadline) {
        why = 'deadline';
        break;
      }
      if (r.outstanding.size === 0) {
        why = 'every selected client reported or left';
        break;
      }
      await this.#waitChange(deadline - now);
    }
    this.#closeOutstanding(r, why);
    this.#phase = 'closing';
    const seconds = (Date.now() - startedAt) / 1000;
    if (r.reported < plan.minReports) {
      store.abandon();
      this.#log(`${plan.label} abandoned (${why}): ${r.reported} of ${plan.minReports} reports needed (${r.dropped} dropped, ${r.refused} refused); retrying`);
      this.#lastAbandoned = { kind: plan.kind, round: plan.round, attempt: plan.attempt + 1, why, reported: r.reported, dropped: r.dropped, refused: r.refused };
      return null;
    }
    const { state, metrics } = store.finish();
    return {
      state,
      metrics,
      stats: {
        startedAt: new Date(startedAt).toISOString(),
        seconds,
        selected: r.selected,
        reported: r.reported,
        refused: r.refused,
        dropped: r.dropped,
        attempts: plan.attempt + 1,
        closedBy: why,
      },
    };
  }

  #lastAbandoned = null;

  /** The coordinator's state for `GET /status`. */
  status() {
    const clients = [...this.#clients.values()];
    const count = (s) => clients.filter((c) => c.state === s).length;
    const r = this.#current;
    return {
      protocol: PROTOCOL_VERSION,
      task: {
        id: this.#task.fingerprint,
        algorithm: this.#task.algorithm,
        model: JSON.parse(this.#task.modelSpec).name,
        rounds: this.#task.rounds,
        clientsPerRound: this.#task.clientsPerRound,
        selected: this.#task.selectCount,
        minReports: this.#task.minReports,
        reportDeadlineSeconds: this.#task.reportDeadlineSeconds,
      },
      phase: this.#phase,
      failure: this.#failure,
      round: this.#round,
      uptimeSeconds: (Date.now() - this.#started) / 1000,
      clients: {
        connected: clients.filter((c) => c.key !== null).length,
        authenticating: count('hello'),
        waiting: count('waiting'),
        selected: count('selected'),
        idle: count('idle'),
      },
      current: r
        ? {
          kind: r.kind,
          round: r.round,
          attempt: r.attempt + 1,
          startedAt: new Date(r.startedAt).toISOString(),
          deadline: new Date(r.deadline).toISOString(),
          secondsLeft: Math.max(0, (r.deadline - Date.now()) / 1000),
          selected: r.selected,
          reported: r.reported,
          refused: r.refused,
          dropped: r.dropped,
          training: [...r.outstanding].map((c) => ({ client: c.key, examples: c.progress?.examples ?? 0 })),
        }
        : null,
      lastAbandoned: this.#lastAbandoned,
      refusals: { ...this.#refusals },
      history: this.history,
    };
  }
}

function summary(metrics) {
  const cw = metrics?.client_work ?? {};
  const train = cw.train ?? cw.eval?.current_round_metrics ?? cw;
  const parts = [];
  for (const k of ['loss', 'sparse_categorical_accuracy', 'mean_squared_error', 'num_examples']) {
    if (typeof train[k] === 'number') parts.push(`${k} ${Number.isInteger(train[k]) ? train[k] : train[k].toFixed(4)}`);
  }
  return parts.join(', ') || 'no metrics';
}

function defaultLog(line) {
  console.log(`${new Date().toISOString()} ${line}`);
}

/** A random token (for task files and tests): 32 hex characters. */
export function newToken() {
  return randomBytes(16).toString('hex');
}
