// A client's storage in a Node.js directory (see storage.js).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FedwasmError } from '../errors.js';
import { checkKey } from './storage.js';
import { writeFileDurably } from '../durable-file.js';

/** A directory (Node.js): `dir/key`, each replaced atomically and durably (durable-file.js). */
export function directoryStorage(dir) {
  if (typeof dir !== 'string' || dir === '') throw new FedwasmError('invalid_argument', 'directoryStorage: give a directory path');
  return {
    kind: 'directory',
    dir,
    async get(key) {
      try {
        const b = await readFile(join(dir, checkKey(key)));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if (e.code === 'ENOENT') return undefined;
        throw new FedwasmError('io', `storage ${dir}: ${e.message}`);
      }
    },
    async set(key, bytes) {
      await writeFileDurably(join(dir, checkKey(key)), bytes, 'client state');
    },
  };
}
