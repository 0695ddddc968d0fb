// writeFileDurably (pkg/src/durable-file.js), behind the coordinator's
// checkpoint and a Node.js client's directoryStorage: a file is replaced
// whole, no temporary file is left behind, and a failure is an `io` error
// naming the file. Run: node --test tests/coordinator/durable-file.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from '../../pkg/src/durable-file.js';
import { fw, tempDir } from './lib.mjs';

test('a file is replaced whole, in a directory made for it, with no temporary file left', async () => {
  const dir = join(await tempDir('fedwasm-durable-'), 'a', 'b');
  const path = join(dir, 'state.bin');
  await writeFileDurably(path, Uint8Array.of(1, 2, 3), 'checkpoint');
  await writeFileDurably(path, Uint8Array.of(4, 5), 'checkpoint');
  assert.deepEqual([...(await readFile(path))], [4, 5]);
  assert.deepEqual(await readdir(dir), ['state.bin']);
});

test('a write that cannot land is an io error naming the file, and removes its temporary file', async () => {
  const dir = await tempDir('fedwasm-durable-');
  const path = join(dir, 'taken');
  await mkdir(path); // a directory where the file should go: the rename fails
  await assert.rejects(writeFileDurably(path, Uint8Array.of(1), 'checkpoint'), (e) => {
    assert.equal(e.code, 'io');
    assert.match(e.message, /writing checkpoint .*taken/);
    return true;
  });
  assert.deepEqual(await readdir(dir), ['taken']);
});

test('directoryStorage keeps each key in its own file and reads it back', async () => {
  const dir = join(await tempDir('fedwasm-durable-'), 'client');
  const s = fw.directoryStorage(dir);
  assert.equal(await s.get('task-client-1'), undefined);
  await s.set('task-client-1', Uint8Array.of(9, 8, 7));
  await s.set('task-client-1', Uint8Array.of(6));
  assert.deepEqual([...(await s.get('task-client-1'))], [6]);
  assert.deepEqual(await readdir(dir), ['task-client-1']);
});
