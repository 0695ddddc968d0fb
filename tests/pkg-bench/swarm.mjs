// Simulated clients for the coordinator benchmark (coordinator.mjs): N
// WebSocket connections that speak the protocol (pkg/PROTOCOL.md) but do no
// training. The first task received is run once by the engine on a
// one-example client to get a valid update of the model's size; every
// client then reports that update, with its own client key and the round's
// id patched in and the CRC rewritten, after its own delay (uniform in
// [0, spreadMs]), so the round's slowest client is known.
//
//   node swarm.mjs URL FIRST_TOKEN_INDEX COUNT SPREAD_MS
// Prints one JSON line per round: { round, lastSendAt, sent }.
import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import { encodeFrame, decodeFrame } from '../../pkg/src/net/frames.js';
import * as fw from '../../pkg/src/node.js';
import { engine } from '../../pkg/src/engine.js';

const WebSocket = createRequire(new URL('../../pkg/package.json', import.meta.url))('ws');
const [url, first, count, spreadMs] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const token = (i) => `bench-token-${String(i).padStart(6, '0')}`;

await fw.ready();
const one = await fw.ClientData.fromArrays({ one: { x: new Float32Array(784), y: new Int32Array([0]) } }, { shape: [784], classes: 10 });
let template = null; // Promise<Uint8Array>: an FWUP of the model's size
const rounds = new Map(); // round -> { lastSendAt, sent }

function updateFor(base, roundId, key) {
  const u = base.slice();
  const v = new DataView(u.buffer);
  v.setBigUint64(8, roundId, true);
  v.setBigUint64(24, BigInt(key), true);
  v.setUint32(u.length - 4, crc32(u.subarray(0, u.length - 4)), true);
  return u;
}

function client(i) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.binaryType = 'arraybuffer';
  let modelSpec = null;
  ws.on('open', () => ws.send(encodeFrame({ type: 'hello', meta: { token: token(i) } })));
  ws.on('message', async (data) => {
    const f = decodeFrame(new Uint8Array(data));
    if (f.type === 'welcome') {
      modelSpec = f.meta.modelSpec;
      ws.send(encodeFrame({ type: 'ready' }));
    } else if (f.type === 'task') {
      template ??= engine().runClient(modelSpec, f.body, one.clientBytes('one'), undefined, { backend: 'cpu' }).then((r) => r.update);
      const base = await template;
      const key = Number(new DataView(f.body.buffer, f.body.byteOffset).getBigUint64(24, true));
      setTimeout(() => {
        const r = rounds.get(f.meta.round) ?? { round: f.meta.round, lastSendAt: 0, sent: 0 };
        rounds.set(f.meta.round, r);
        r.lastSendAt = Math.max(r.lastSendAt, Date.now());
        r.sent += 1;
        ws.send(encodeFrame({ type: 'report', round: f.round, fingerprint: f.fingerprint, meta: { task: f.meta.task }, body: updateFor(base, f.round, key) }));
        if (r.sent === count) process.stdout.write(`${JSON.stringify(r)}\n`);
      }, Math.random() * spreadMs);
    } else if (f.type === 'accepted' || f.type === 'round_closed') {
      ws.send(encodeFrame({ type: 'ready' }));
    } else if (f.type === 'done') {
      ws.close();
    } else if (f.type === 'error') {
      process.stderr.write(`client ${i}: ${f.meta.reason}: ${f.meta.message}\n`);
    }
  });
  ws.on('error', (e) => process.stderr.write(`client ${i}: ${e.message}\n`));
  return ws;
}

const sockets = [];
for (let i = first; i < first + count; i++) sockets.push(client(i));
process.on('SIGTERM', () => {
  for (const s of sockets) s.terminate();
  process.exit(0);
});
