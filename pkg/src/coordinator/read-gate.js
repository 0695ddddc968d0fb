// Bounds how many connections may be part-way through sending a message at
// once, so the coordinator's memory does not grow with its clients: a
// WebSocket message is buffered whole before it is delivered, and a
// thousand clients uploading 5 MB updates at the same moment would
// otherwise be a thousand 5 MB buffers. A connection that starts a message
// while `slots` others are mid-message is paused (its bytes wait in the
// kernel and, by TCP flow control, on the client) until one of them
// finishes or leaves. Each waiting connection costs at most the one chunk
// read before it was paused.
//
// The gate sees the raw bytes of each socket (it listens before the
// WebSocket layer) and the WebSocket layer's message boundaries (`message`,
// `ping`, `pong`).
export class ReadGate {
  #slots;
  #active = new Set();
  #queue = [];

  /** @param {number} slots connections allowed mid-message at once */
  constructor(slots) {
    this.#slots = slots;
  }

  /** Connections now mid-message, and waiting for a slot. */
  get stats() {
    return { active: this.#active.size, waiting: this.#queue.length };
  }

  /**
   * Watches one connection: `socket` its net.Socket (or TLS socket), `ws`
   * its WebSocket. Call before the WebSocket layer reads from the socket.
   */
  watch(socket, ws) {
    const entry = { socket, partial: 0, paused: false, resume: socket.resume.bind(socket) };
    // The WebSocket layer pauses and resumes its socket for its own flow
    // control; while the gate holds a connection, those resumes wait.
    socket.resume = () => {
      if (!entry.paused) entry.resume();
      return socket;
    };
    socket.prependListener('data', (chunk) => {
      entry.partial += chunk.length;
      if (entry.partial > 0 && !this.#active.has(entry) && !entry.paused) {
        if (this.#active.size < this.#slots) this.#admit(entry);
        else {
          entry.paused = true;
          socket.pause();
          this.#queue.push(entry);
        }
      }
    });
    const boundary = () => {
      entry.partial = 0;
      if (this.#active.delete(entry)) this.#next();
      else if (entry.paused) {
        // The chunk that put it in line held a whole message (a `ready`,
        // a `progress`): it is not mid-message, so it needs no slot.
        const q = this.#queue.indexOf(entry);
        if (q >= 0) this.#queue.splice(q, 1);
        entry.paused = false;
        entry.resume();
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
      const q = this.#queue.indexOf(entry);
      if (q >= 0) this.#queue.splice(q, 1);
      entry.paused = false;
      entry.partial = 0;
      if (this.#active.delete(entry)) this.#next();
    });
    return entry;
  }

  /** Whether a connection is waiting for a slot (its pings go unanswered meanwhile). */
  isWaiting(entry) {
    return entry.paused;
  }

  #admit(entry) {
    entry.since = Date.now();
    this.#active.add(entry);
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

  #next() {
    while (this.#active.size < this.#slots && this.#queue.length > 0) {
      const e = this.#queue.shift();
      e.paused = false;
      this.#admit(e);
      e.resume();
    }
  }
}
