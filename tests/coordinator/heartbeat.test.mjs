// The coordinator's heartbeat (pkg/src/coordinator/heartbeat.js): a
// connection that misses MAX_MISSED_PONGS pings in a row is terminated; one
// the upload gate is not reading is not counted against, however long it
// waits. Run: node --test tests/coordinator/heartbeat.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heartbeat, MAX_MISSED_PONGS } from '../../pkg/src/coordinator/heartbeat.js';

test('a connection that answers no ping is terminated after MAX_MISSED_PONGS beats', () => {
  const conn = { missedPongs: 0 };
  for (let i = 0; i < MAX_MISSED_PONGS; i++) assert.equal(heartbeat(conn, false), 'ping');
  assert.equal(heartbeat(conn, false), 'terminate');
});

test('a connection held unread by the upload gate survives any number of beats, and starts counting again when read', () => {
  const conn = { missedPongs: 0 };
  assert.equal(heartbeat(conn, false), 'ping');
  assert.equal(heartbeat(conn, false), 'ping'); // two pings unanswered...
  for (let i = 0; i < 10; i++) assert.equal(heartbeat(conn, true), 'wait'); // ...then held: its pongs wait with its report
  for (let i = 0; i < MAX_MISSED_PONGS; i++) assert.equal(heartbeat(conn, false), 'ping', 'read again: a full count before it is given up');
  assert.equal(heartbeat(conn, false), 'terminate');
});
