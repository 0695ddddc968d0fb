// Writing a file so that a crash at any moment leaves either the old
// contents or the new, whole (Node.js only): a temporary file beside it is
// written and fsynced, renamed over it, and the directory fsynced (which
// makes the rename itself durable). Used by the coordinator's checkpoint
// and by directoryStorage.
import { open, mkdir, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FedwasmError } from './errors.js';

/**
 * Replaces `path` with `bytes` atomically and durably (see above), making
 * its directory if needed. `what` names the file in errors (code `io`).
 * @param {string} path
 * @param {Uint8Array} bytes
 * @param {string} what
 */
export async function writeFileDurably(path, bytes, what) {
  const dir = dirname(path);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new FedwasmError('io', `writing ${what} ${path}: ${e.message}`);
  }
  await syncDirectory(dir, what);
}

/** fsyncs a directory; where one cannot be opened for that (Windows), the rename stands as the file system keeps it. */
async function syncDirectory(dir, what) {
  let fh;
  try {
    fh = await open(dir, 'r');
  } catch (e) {
    if (e.code === 'EISDIR' || e.code === 'EPERM' || e.code === 'EACCES') return;
    throw new FedwasmError('io', `syncing the directory of ${what} ${dir}: ${e.message}`);
  }
  try {
    await fh.sync();
  } catch (e) {
    if (e.code !== 'EINVAL' && e.code !== 'EPERM') throw new FedwasmError('io', `syncing the directory of ${what} ${dir}: ${e.message}`);
  } finally {
    await fh.close();
  }
}
