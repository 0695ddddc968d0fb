// Stops and restarts reading a socket at its handle (libuv), not at its
// stream. `socket.pause()` on a net.Socket only stops the 'data' events:
// the handle keeps reading, and the next chunk (up to 64 KiB) is read into
// the stream's buffer before the stream stops it. For a connection the
// upload gate holds, that chunk is process memory spent per waiting client;
// stopped at the handle, the bytes stay in the kernel and, by TCP flow
// control, on the client.
//
// While reads are stopped, `handle.reading` stays true: net.Socket's
// `_read` (called on the stream's resume) restarts a handle that is not
// reading, which would undo the stop.
//
// A socket without a handle that reads (a test's fake) is paused at its
// stream instead.
import { FedwasmError } from '../errors.js';

/** Stops reading `socket`; returns what `startReads` needs to undo it. */
export function stopReads(socket) {
  const handle = socket._handle;
  if (!handle || typeof handle.readStop !== 'function' || typeof handle.readStart !== 'function') {
    socket.pause();
    return { handle: null, wasReading: false };
  }
  const wasReading = handle.reading === true;
  if (wasReading) handle.readStop();
  handle.reading = true;
  return { handle, wasReading };
}

/** Undoes `stopReads(socket)` (`stopped` its result). */
export function startReads(socket, stopped) {
  const { handle, wasReading } = stopped;
  if (!handle) {
    socket.resume();
    return;
  }
  // Closed meanwhile: nothing to read.
  if (socket.destroyed || socket._handle !== handle) return;
  if (wasReading) {
    const err = handle.readStart();
    if (err) socket.destroy(new FedwasmError('io', `restarting the reads of a connection failed (libuv error ${err})`, { reason: 'read_restart' }));
  } else {
    // The stream had stopped the handle itself (its buffer was full): it
    // restarts it when it wants more, from `read`.
    handle.reading = false;
    socket.read(0);
  }
}
