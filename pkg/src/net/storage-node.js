// A client's storage in a Node.js directory (see storage.js).
import { open, mkdir, rename, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FedwasmError } from '../errors.js';
import { checkKey } from './storage.js';

/** A directory (Node.js): `dir/key`, each written to a temporary file, fsynced and renamed. */
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
      const file = join(dir, checkKey(key));
      await mkdir(dir, { recursive: true });
      const tmp = `${file}.tmp`;
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
    },
  };
}

