// The coordinator's checkpoint: after every completed round, the process
// state (the engine's FWCK bytes: global model, server optimizer state,
// round), the metrics history and the task's fingerprint, in one file
// written atomically (write a temporary file, fsync it, rename it over the
// old one, fsync the directory). A crash at any moment leaves either the
// old checkpoint or the new one, never a torn file.
//
// File layout (little-endian), `checkpoint.fwco` in the state directory:
//   magic "FWCO" | version u32 = 1 | meta length u32 | meta (UTF-8 JSON:
//   { taskFingerprint, round, history, savedAt }) | state length u32 |
//   state (FWCK) | crc32 u32 of everything before it (IEEE)
// Non-finite numbers in the history (a diverged round's loss) are written
// as {"$float": "NaN" | "Infinity" | "-Infinity"} and read back as numbers.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FedwasmError } from '../errors.js';
import { crc32 } from './crc32.js';
import { writeFileDurably } from '../durable-file.js';

const MAGIC = 'FWCO';
const VERSION = 1;
export const CHECKPOINT_FILE = 'checkpoint.fwco';

function corrupt(file, detail) {
  return new FedwasmError('bad_data', `checkpoint ${file}: ${detail}`, { reason: 'checkpoint' });
}

const replacer = (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? { $float: String(v) } : v);
const reviver = (_, v) => (v && typeof v === 'object' && typeof v.$float === 'string' && Object.keys(v).length === 1 ? Number(v.$float) : v);

/** The bytes of a checkpoint. */
export function encodeCheckpoint({ taskFingerprint, round, history, state }) {
  const meta = new TextEncoder().encode(JSON.stringify({ taskFingerprint, round, history, savedAt: new Date().toISOString() }, replacer));
  const out = new Uint8Array(4 + 4 + 4 + meta.length + 4 + state.length + 4);
  const view = new DataView(out.buffer);
  let at = 0;
  for (let i = 0; i < 4; i++) out[at++] = MAGIC.charCodeAt(i);
  view.setUint32(at, VERSION, true);
  view.setUint32(at + 4, meta.length, true);
  at += 8;
  out.set(meta, at);
  at += meta.length;
  view.setUint32(at, state.length, true);
  at += 4;
  out.set(state, at);
  at += state.length;
  view.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

/** A checkpoint from its bytes, checked (magic, version, lengths, CRC). */
export function decodeCheckpoint(bytes, file = CHECKPOINT_FILE) {
  if (bytes.length < 20) throw corrupt(file, `${bytes.length} bytes is too short`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) throw corrupt(file, 'not a coordinator checkpoint (magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw corrupt(file, `version ${version} is not supported`);
  const crcAt = bytes.length - 4;
  if (crc32(bytes.subarray(0, crcAt)) !== view.getUint32(crcAt, true)) throw corrupt(file, 'checksum mismatch (a damaged file)');
  const metaLength = view.getUint32(8, true);
  if (12 + metaLength + 4 > crcAt) throw corrupt(file, 'meta length past the end');
  const stateLength = view.getUint32(12 + metaLength, true);
  if (12 + metaLength + 4 + stateLength !== crcAt) throw corrupt(file, 'state length does not match the file');
  let meta;
  try {
    meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + metaLength)), reviver);
  } catch (e) {
    throw corrupt(file, `meta: ${e.message}`);
  }
  const state = bytes.slice(16 + metaLength, crcAt);
  return { ...meta, state };
}

/** Checkpoints in a directory: `load()` the last one (or null), `save()` a new one atomically. */
export class CheckpointStore {
  #dir;

  constructor(dir) {
    this.#dir = dir;
  }

  get path() {
    return join(this.#dir, CHECKPOINT_FILE);
  }

  async load() {
    let bytes;
    try {
      bytes = await readFile(this.path);
    } catch (e) {
      if (e.code === 'ENOENT') return null;
      throw new FedwasmError('io', `reading checkpoint ${this.path}: ${e.message}`);
    }
    return decodeCheckpoint(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), this.path);
  }

  async save(checkpoint) {
    const bytes = encodeCheckpoint(checkpoint);
    await writeFileDurably(this.path, bytes, 'checkpoint');
    return bytes.length;
  }
}
