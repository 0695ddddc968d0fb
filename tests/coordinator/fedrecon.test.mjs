// Federated Reconstruction with real clients: every frame a client sends is
// recorded, and none carries a local-variable value (the user vector it
// reconstructs) or a raw example; the local variables are kept in the
// client's storage (a directory in Node.js) and are there after a restart.
// Run: node --test tests/coordinator/fedrecon.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { serve } from '../../pkg/src/coordinator/index.js';
import { decodeFrame } from '../../pkg/src/net/frames.js';
import { fw, reconTask, tokens, tempDir, until } from './lib.mjs';
import { decodeUpdate } from './wire.mjs';

const WS = createRequire(new URL('../../pkg/package.json', import.meta.url))('ws');

/** FWCS client state: magic, version, index:u64, tensors (encoding.rs). */
function decodeClientState(bytes) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 16;
  const u32 = () => {
    const x = v.getUint32(at, true);
    at += 4;
    return x;
  };
  const tensors = [];
  for (let n = u32(); n > 0; n--) {
    const len = u32();
    const name = new TextDecoder().decode(bytes.subarray(at, at + len));
    at += len + ((4 - (len % 4)) % 4);
    const dims = Array.from({ length: u32() }, u32);
    const count = dims.reduce((a, b) => a * b, 1);
    tensors.push({ name, dims, data: new Float32Array(bytes.slice(at, at + 4 * count).buffer) });
    at += 4 * count;
  }
  return { index: v.getBigUint64(8, true), tensors };
}

/** Whether `hay` contains the bytes of `needle` anywhere. */
function contains(hay, needle) {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const base = await tempDir('fedwasm-recon-');
const f32Bytes = (arr) => new Uint8Array(Float32Array.from(arr).buffer);

test('a FedRecon client sends no local-variable value and no raw example, and keeps its local variables across a restart', async () => {
  const users = 4;
  const data = await fw.ClientData.syntheticRatings({ users, items: 30, rank: 2, ratingsPerUser: 30, noise: 0.3, seed: 1 });
  const tk = tokens(users);
  const server = await serve({ port: 0, log: () => {}, task: reconTask(users, { rounds: 3, tokens: tk }) });
  const dirs = [];
  const sent = []; // [client, bytes]
  const kept = []; // [client, FWCS bytes] every time a client stores its locals
  const clients = data.clientIds.map((id, i) => {
    class RecordingWebSocket extends WS {
      send(bytes, ...rest) {
        sent.push([i, Uint8Array.from(bytes)]);
        return super.send(bytes, ...rest);
      }
    }
    const dir = join(base, `client-${i}`);
    dirs.push(dir);
    const disk = fw.directoryStorage(dir);
    const storage = {
      get: (k) => disk.get(k),
      set: async (k, b) => {
        kept.push([i, b.slice()]);
        await disk.set(k, b);
      },
    };
    return fw.connect(server.url, { token: tk[i], data, clientId: id, backend: 'cpu', storage, WebSocket: RecordingWebSocket });
  });
  try {
    await server.done;
    await until(() => clients.every((c) => c.state === 'done'), { what: 'clients done' });
    assert.equal(server.coordinator.round, 3);
    assert.equal(kept.length, users * 3, 'each client stored its local variables after each of 3 rounds');
    const reports = sent.filter(([, b]) => decodeFrame(b).type === 'report');
    assert.equal(reports.length, users * 3);
    for (const [i, b] of sent) {
      const frame = decodeFrame(b);
      // No raw example: 4 consecutive features or labels of this client's data appear in no frame.
      const ex = data.examples(data.clientIds[i], { start: 0, count: data.numExamples(data.clientIds[i]) });
      for (let s = 0; s + 4 <= ex.y.length; s += 4) {
        assert.ok(!contains(b, f32Bytes(ex.y.subarray(s, s + 4))), `client ${i}'s labels ${s}.. in a ${frame.type} frame`);
        assert.ok(!contains(b, f32Bytes(ex.x.subarray(s, s + 4))), `client ${i}'s features ${s}.. in a ${frame.type} frame`);
      }
      if (frame.type !== 'report') {
        assert.equal(frame.body.length, 0, `a ${frame.type} frame has no body`);
        continue;
      }
      const update = decodeUpdate(frame.body);
      assert.deepEqual(update.tensors.map((t) => t.name), ['item_embedding/embeddings'], 'only the global variable is sent');
      // No local value, from any round, of any client, is in it (bit for bit).
      const sentBits = new Set(update.tensors.flatMap((t) => [...new Uint32Array(t.data.buffer)]));
      for (const [j, fwcs] of kept) {
        const locals = decodeClientState(fwcs);
        assert.deepEqual(locals.tensors.map((t) => t.name), ['user_embedding/embedding']);
        for (const bits of new Uint32Array(locals.tensors[0].data.buffer)) {
          if (bits !== 0) assert.ok(!sentBits.has(bits), `a local value of client ${j} in client ${i}'s update`);
        }
        assert.ok(!contains(b, f32Bytes(locals.tensors[0].data)), `client ${j}'s user vector in a report`);
      }
    }
    // The last locals are on disk; a new client on the same storage (a reloaded tab) finds them.
    const last = new Map(kept.map(([i, b]) => [i, b]));
    assert.equal((await readdir(dirs[0])).length, 1);
    clients.forEach((c) => c.close());
    const again = fw.connect(server.url, { token: tk[0], data, clientId: data.clientIds[0], backend: 'cpu', storage: dirs[0] });
    await until(() => again.welcome, { what: 'welcome' });
    assert.deepEqual(await again.localState(), last.get(0));
    again.close();
  } finally {
    clients.forEach((c) => c.close());
    await server.close();
  }
});
