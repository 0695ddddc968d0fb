// Bounds how many connections may be part-way through sending a message at
// once, so the coordinator's memory does not grow with its clients: a
// WebSocket message is buffered whole before it is delivered, and a
// thousand clients uploading 5 MB updates at the same moment would
// otherwise be a thousand 5 MB buffers.
//
// A connection is in one of four states:
//   open     read as usual;
//   active   mid-message, holding one of the `slots`;
//   queued   it started a message while every slot was taken: its reads
//            are stopped (socket-reads.js) until a slot frees, in order of
//            arrival. It costs the one chunk read before it was stopped;
//   held     the caller expects a large message from it (`expect`: a
//            client holding a task) and every slot is taken: its reads are
//            stopped before it sends anything, so a waiting upload costs no
//            process memory at all, only kernel and client buffers.
// When a slot frees, the first queued connection takes it. With none
// queued, held connections are reopened, as many as slots are free, one
// event-loop turn at a time (the oldest first), until the slots are taken
// again or none is held: one whose report is waiting in the kernel is read
// in that turn and takes the slot; one that has nothing to send yet stays
// open until the slots are all taken again, then is held again, last in
// line. So a free slot never waits for a silent connection, and a waiting
// connection is reopened after at most (held / free slots) turns.
//
// The gate sees the raw bytes of each socket (it listens before the
// WebSocket layer) and the WebSocket layer's message boundaries (`message`,
// `ping`, `pong`).
import { stopReads, startReads } from './socket-reads.js';

export class ReadGate {
  #slots;
  #active = new Set();
  #queue = new Set(); // insertion order is arrival order
  #held = new Set(); // insertion order: the oldest first
  #expecting = new Set();
  #reopening = false;

  /** @param {number} slots connections allowed mid-message at once */
  constructor(slots) {
    this.#slots = slots;
  }

  /** Connections now mid-message, and waiting for a slot with a message begun. */
  get stats() {
    return { active: this.#active.size, waiting: this.#queue.size };
  }

  /** Connections held (not read) before sending, while every slot is taken. */
  get held() {
    return this.#held.size;
  }

  get #full() {
    return this.#active.size >= this.#slots;
  }

  /**
   * Watches one connection: `socket` its net.Socket (or TLS socket), `ws`
   * its WebSocket. Call before the WebSocket layer reads from the socket.
   */
  watch(socket, ws) {
    const entry = { socket, state: 'open', partial: 0, stopped: null, since: 0 };
    socket.prependListener('data', (chunk) => {
      entry.partial += chunk.length;
      // A held connection may still deliver a chunk its stream had buffered
      // before the hold: it has begun a message like any other.
      if (entry.state === 'open' || entry.state === 'held') {
        this.#held.delete(entry);
        if (!this.#full) this.#admit(entry);
        else {
          this.#stop(entry);
          entry.state = 'queued';
          this.#queue.add(entry);
        }
      }
    });
    const boundary = () => {
      entry.partial = 0;
      if (entry.state === 'active') {
        this.#active.delete(entry);
        this.#open(entry);
        this.#next();
      } else if (entry.state === 'queued') {
        // The chunk that put it in line held a whole message (a `ready`,
        // a `progress`): it is not mid-message, so it needs no slot.
        this.#queue.delete(entry);
        this.#open(entry);
      }
    };
    // A control frame (at most 131 bytes) may come between the fragments of
    // a message: it ends a message only when it is all that was read.
    const control = () => {
      if (entry.partial <= 131) boundary();
    };
    ws.on('message', boundary);
    ws.on('ping', control);
    ws.on('pong', control);
    ws.on('close', () => {
      this.#queue.delete(entry);
      this.#held.delete(entry);
      this.#expecting.delete(entry);
      const wasActive = this.#active.delete(entry);
      entry.state = 'closed';
      entry.partial = 0;
      if (wasActive) this.#next();
    });
    return entry;
  }

  /**
   * Whether a large message is expected from this connection (a client
   * holding a task): while every slot is taken, such a connection is not
   * read until a slot frees.
   */
  expect(entry, expected) {
    if (entry.state === 'closed') return;
    if (expected) {
      this.#expecting.add(entry);
      if (entry.state === 'open' && this.#full) this.#hold(entry);
    } else {
      this.#expecting.delete(entry);
      if (entry.state === 'held') {
        this.#held.delete(entry);
        this.#open(entry);
      }
    }
  }

  /** Whether a connection is not being read (queued or held): its pongs wait too. */
  isWaiting(entry) {
    return entry.state === 'queued' || entry.state === 'held';
  }

  /**
   * Connections that have held a slot for more than `ms` without finishing
   * their message (a stalled or hostile sender): the caller closes them,
   * which frees their slots.
   */
  stalled(ms) {
    const now = Date.now();
    return [...this.#active].filter((e) => now - e.since > ms).map((e) => e.socket);
  }

  #stop(entry) {
    entry.stopped ??= stopReads(entry.socket);
  }

  #open(entry) {
    entry.state = 'open';
    if (entry.stopped) {
      const stopped = entry.stopped;
      entry.stopped = null;
      startReads(entry.socket, stopped);
    }
    // Opened while every slot is taken (a whole small message read from a
    // queued connection): an expected upload waits again, held.
    if (this.#full && this.#expecting.has(entry)) this.#hold(entry);
  }

  #hold(entry) {
    this.#stop(entry);
    entry.state = 'held';
    this.#held.add(entry);
  }

  #admit(entry) {
    entry.state = 'active';
    entry.since = Date.now();
    if (entry.stopped) {
      const stopped = entry.stopped;
      entry.stopped = null;
      startReads(entry.socket, stopped);
    }
    this.#active.add(entry);
    if (this.#full) {
      // Every slot taken: the expected uploads not under way wait unread.
      for (const e of this.#expecting) if (e.state === 'open') this.#hold(e);
    }
  }

  /** A slot freed: the queue first, then held connections. */
  #next() {
    for (const e of this.#queue) {
      if (this.#full) return;
      this.#queue.delete(e);
      this.#admit(e);
    }
    this.#reopen();
  }

  /**
   * Reopens held connections, as many as slots are free, and looks again
   * one event-loop turn later, when the reopened ones with bytes waiting
   * have been read (and taken slots).
   */
  #reopen() {
    if (this.#full || this.#held.size === 0) return;
    let free = this.#slots - this.#active.size;
    for (const e of this.#held) {
      if (free-- <= 0) break;
      this.#held.delete(e);
      this.#open(e);
    }
    if (this.#held.size === 0 || this.#reopening) return;
    this.#reopening = true;
    // Reopened now, polled by the loop's next poll phase, looked at in the
    // check phase after it (an immediate queued from an immediate runs one
    // turn later).
    setImmediate(() => setImmediate(() => {
      this.#reopening = false;
      this.#reopen();
    }));
  }
}
