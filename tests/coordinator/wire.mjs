// FWUP updates read and written in JavaScript from the byte layout in
// crate/fedwasm-protocol/src/encoding.rs, so a test can send an update the
// engine would never write (a NaN, a wrong shape) and check the
// coordinator refuses it.
import { crc32 } from '../../pkg/src/coordinator/crc32.js';

class Reader {
  constructor(bytes) {
    this.b = bytes;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = 8;
  }
  u32() {
    const x = this.v.getUint32(this.at, true);
    this.at += 4;
    return x;
  }
  u64() {
    const x = this.v.getBigUint64(this.at, true);
    this.at += 8;
    return x;
  }
  f64() {
    const x = this.v.getFloat64(this.at, true);
    this.at += 8;
    return x;
  }
  text() {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.at, this.at + n));
    this.at += n + ((4 - (n % 4)) % 4);
    return s;
  }
  f32s(n) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.v.getFloat32(this.at + 4 * i, true);
    this.at += 4 * n;
    return out;
  }
}

class Writer {
  constructor(magic) {
    this.parts = [];
    this.bytes(new TextEncoder().encode(magic));
    this.u32(2);
  }
  bytes(b) {
    this.parts.push(Uint8Array.from(b));
  }
  num(size, set) {
    const d = new DataView(new ArrayBuffer(size));
    set(d);
    this.bytes(new Uint8Array(d.buffer));
  }
  u32(x) {
    this.num(4, (d) => d.setUint32(0, x, true));
  }
  u64(x) {
    this.num(8, (d) => d.setBigUint64(0, BigInt(x), true));
  }
  f64(x) {
    this.num(8, (d) => d.setFloat64(0, x, true));
  }
  text(s) {
    const u = new TextEncoder().encode(s);
    this.u32(u.length);
    this.bytes(u);
    this.bytes(new Uint8Array((4 - (u.length % 4)) % 4));
  }
  f32s(a) {
    const d = new DataView(new ArrayBuffer(4 * a.length));
    a.forEach((x, i) => d.setFloat32(4 * i, x, true));
    this.bytes(new Uint8Array(d.buffer));
  }
  finish() {
    const n = this.parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(n + 4);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    new DataView(out.buffer).setUint32(n, crc32(out.subarray(0, n)), true);
    return out;
  }
}

/** An FWUP update's fields. */
export function decodeUpdate(bytes) {
  const r = new Reader(bytes);
  const u = { round: r.u64(), fingerprint: r.u64(), key: r.u64(), weight: r.f64(), flags: r.u32(), reserved: r.u32() };
  u.metrics = Array.from({ length: r.u32() }, () => {
    const name = r.text();
    const n = r.u32();
    return { name, values: Array.from({ length: n }, () => r.f64()) };
  });
  u.tensors = Array.from({ length: r.u32() }, () => {
    const name = r.text();
    const dims = Array.from({ length: r.u32() }, () => r.u32());
    return { name, dims, data: r.f32s(dims.reduce((a, b) => a * b, 1)) };
  });
  return u;
}

/** The FWUP bytes of `u` (as decodeUpdate gives it), with a fresh CRC. */
export function encodeUpdate(u) {
  const w = new Writer('FWUP');
  w.u64(u.round);
  w.u64(u.fingerprint);
  w.u64(u.key);
  w.f64(u.weight);
  w.u32(u.flags);
  w.u32(u.reserved);
  w.u32(u.metrics.length);
  for (const m of u.metrics) {
    w.text(m.name);
    w.u32(m.values.length);
    m.values.forEach((x) => w.f64(x));
  }
  w.u32(u.tensors.length);
  for (const t of u.tensors) {
    w.text(t.name);
    w.u32(t.dims.length);
    t.dims.forEach((d) => w.u32(d));
    w.f32s(t.data);
  }
  return w.finish();
}
