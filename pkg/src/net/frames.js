// The wire format between a coordinator and its clients: one binary
// WebSocket message is one frame. Specified byte by byte in
// pkg/PROTOCOL.md; this module is its only reader and writer, used by both
// sides (browser-safe: no Node.js imports).
//
// Layout (little-endian):
//   0  magic "FWNF"           4 bytes
//   4  protocol version       u16 (PROTOCOL_VERSION)
//   6  message type           u8  (TYPES)
//   7  flags                  u8  (0; other values are refused)
//   8  round id               u64 (the engine's round id; 0 where none)
//  16  model fingerprint      u64 (the engine's; 0 where none)
//  24  meta length            u32 (bytes of UTF-8 JSON, an object)
//  28  body length            u32 (bytes of an engine encoding)
//  32  meta, then body; the frame is exactly 32 + meta + body bytes.
import { FedwasmError } from '../errors.js';

export const MAGIC = 'FWNF';
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 32;
/** The largest meta part a frame may have (bodies are bounded by the coordinator's messageBytes). */
export const MAX_META_BYTES = 64 * 1024;

/** Message types, by name, and their numbers on the wire. */
export const TYPES = Object.freeze({
  hello: 1,
  welcome: 2,
  ready: 3,
  task: 4,
  progress: 5,
  report: 6,
  accepted: 7,
  error: 8,
  round_closed: 9,
  done: 10,
});
const NAMES = new Map(Object.entries(TYPES).map(([k, v]) => [v, k]));

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A protocol error: the frame named by `reason` is refused. */
export function protocolError(reason, message) {
  return new FedwasmError('protocol', message, { reason });
}

/**
 * One frame's bytes.
 * @param {{ type: string, round?: bigint | number, fingerprint?: bigint | number,
 *   meta?: object, body?: Uint8Array }} frame
 */
export function encodeFrame({ type, round = 0n, fingerprint = 0n, meta = {}, body }) {
  const code = TYPES[type];
  if (code === undefined) throw new TypeError(`unknown frame type ${type}`);
  const metaBytes = encoder.encode(JSON.stringify(meta));
  if (metaBytes.length > MAX_META_BYTES) {
    throw protocolError('oversized', `a ${type} frame's meta is ${metaBytes.length} bytes, over ${MAX_META_BYTES}`);
  }
  const bodyBytes = body ?? new Uint8Array(0);
  const out = new Uint8Array(HEADER_BYTES + metaBytes.length + bodyBytes.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = MAGIC.charCodeAt(i);
  view.setUint16(4, PROTOCOL_VERSION, true);
  view.setUint8(6, code);
  view.setUint8(7, 0);
  view.setBigUint64(8, BigInt(round), true);
  view.setBigUint64(16, BigInt(fingerprint), true);
  view.setUint32(24, metaBytes.length, true);
  view.setUint32(28, bodyBytes.length, true);
  out.set(metaBytes, HEADER_BYTES);
  out.set(bodyBytes, HEADER_BYTES + metaBytes.length);
  return out;
}

/**
 * Reads one frame, checking everything the header says before it reads the
 * parts (the body is a view into `bytes`, not a copy). Throws a
 * FedwasmError with code `protocol` and a `reason`: `truncated`, `magic`,
 * `version`, `flags`, `type`, `length`, `meta`.
 * @param {Uint8Array} bytes
 * @returns {{ type: string, round: bigint, fingerprint: bigint, meta: object, body: Uint8Array }}
 */
export function decodeFrame(bytes) {
  if (!(bytes instanceof Uint8Array)) throw protocolError('type', 'a frame must be a binary message');
  if (bytes.length < HEADER_BYTES) {
    throw protocolError('truncated', `a frame is at least ${HEADER_BYTES} bytes, got ${bytes.length}`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC.charCodeAt(i)) throw protocolError('magic', 'not a fedwasm frame (its magic is not FWNF)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== PROTOCOL_VERSION) {
    throw protocolError('version', `protocol version ${version} is not supported (this side speaks ${PROTOCOL_VERSION})`);
  }
  const code = view.getUint8(6);
  const type = NAMES.get(code);
  if (type === undefined) throw protocolError('type', `unknown message type ${code}`);
  if (view.getUint8(7) !== 0) throw protocolError('flags', `flags must be 0, got ${view.getUint8(7)}`);
  const metaLength = view.getUint32(24, true);
  const bodyLength = view.getUint32(28, true);
  if (metaLength > MAX_META_BYTES) throw protocolError('meta', `meta of ${metaLength} bytes is over ${MAX_META_BYTES}`);
  const want = HEADER_BYTES + metaLength + bodyLength;
  if (bytes.length !== want) {
    throw protocolError(bytes.length < want ? 'truncated' : 'length',
      `the header says ${want} bytes (meta ${metaLength}, body ${bodyLength}); the frame has ${bytes.length}`);
  }
  let meta;
  try {
    meta = metaLength === 0 ? {} : JSON.parse(decoder.decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + metaLength)));
  } catch (e) {
    throw protocolError('meta', `a ${type} frame's meta is not UTF-8 JSON: ${e.message}`);
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
    throw protocolError('meta', `a ${type} frame's meta must be a JSON object`);
  }
  return {
    type,
    round: view.getBigUint64(8, true),
    fingerprint: view.getBigUint64(16, true),
    meta,
    body: bytes.subarray(HEADER_BYTES + metaLength),
  };
}

/** The u64 at `offset` of an engine encoding (FWTK's round id, fingerprint). */
export function readU64(bytes, offset) {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset, true);
}
