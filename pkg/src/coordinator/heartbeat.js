// Which connections the heartbeat pings and which it gives up on. A
// connection that stops answering pings (a frozen tab, a lost network) is
// closed after MAX_MISSED_PONGS pings in a row go unanswered. A connection
// the upload gate is not reading (read-gate.js: queued or held) cannot
// answer: its pong waits unread in the kernel with its other bytes. Held by
// us is not dead, so while it waits its count starts again.
export const HEARTBEAT_MS = 15_000;
export const MAX_MISSED_PONGS = 3;

/**
 * One heartbeat for one connection (`conn.missedPongs` is its count of
 * pings unanswered, reset by the answer to the last one): 'wait' (not read
 * now: no ping, the count starts again), 'terminate', or 'ping' (counted).
 * @param {{ missedPongs: number }} conn
 * @param {boolean} unread whether the upload gate is holding its reads
 */
export function heartbeat(conn, unread) {
  if (unread) {
    conn.missedPongs = 0;
    return 'wait';
  }
  if (conn.missedPongs >= MAX_MISSED_PONGS) return 'terminate';
  conn.missedPongs += 1;
  return 'ping';
}
