// Aggregation throughput of the npm package's aggregator (issue 11), side
// by side in one run:
//   node tests/pkg-bench/aggregation.mjs [--reps N] [--clients K] [--model NAME] [--json]
// For each model (cnn_dropout's 1,199,882 parameters in its 8 tensors, and
// softmax regression's 7,850), K clients' FWUP updates are encoded here
// once; then, per repetition,
//   * wasm: a fresh ServerRound checks the K updates (`check`: decode +
//     CRC-32, validation: every step of accept but the adding), then
//     accepts them (everything accept does: the same steps and the exact
//     fixed-point sums); "adding" is accept's time less check's, the
//     aggregation itself. Again with a maxNorm bound (the L2 norm on top);
//   * plain JS: `sum[i] += w * u[i]` over the same f32 data (Float32Array
//     views into the same FWUP bytes) into a Float64Array;
// and prints MB/s of f32 update payload (4 bytes a parameter, K updates),
// the median of the repetitions, and the median over the repetitions of
// wasm / plain (each repetition runs both, back to back). Round setup
// (allocating the sums) and finish() are timed apart (finish: the mean,
// the server optimizer and the FWCK encoding).
// With `--baseline DIR` (another build's tests/build-aggregator.sh output,
// e.g. `--out-dir /tmp/agg-base` at an older commit), that build accepts
// the same updates in every repetition too, between the two: the columns
// "baseline" compare two builds under the same load.
// Needs pkg/wasm-aggregator/ (bash tests/build-pkg.sh).
import { availableParallelism, cpus } from 'node:os';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadAggregator } from '../../pkg/src/aggregator.js';

const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? d : Number(process.argv[i + 1]);
};
const reps = arg('reps', 7);
const clients = arg('clients', 4);
const asJson = process.argv.includes('--json');
const baselineAt = process.argv.indexOf('--baseline');
const baselineDir = baselineAt < 0 ? null : resolve(process.argv[baselineAt + 1]);

const MODELS = [
  {
    name: 'cnn_dropout',
    variables: [
      ['conv2d/kernel', [3, 3, 1, 32]],
      ['conv2d/bias', [32]],
      ['conv2d_1/kernel', [3, 3, 32, 64]],
      ['conv2d_1/bias', [64]],
      ['dense/kernel', [9216, 128]],
      ['dense/bias', [128]],
      ['dense_1/kernel', [128, 10]],
      ['dense_1/bias', [10]],
    ],
  },
  {
    name: 'softmax regression',
    variables: [
      ['dense/kernel', [784, 10]],
      ['dense/bias', [10]],
    ],
  },
];

// ---- the encodings (crate/fedwasm-protocol/src/encoding.rs "Byte layout") ----

const CRC_TABLE = new Uint32Array(256).map((_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const utf8 = (s) => new TextEncoder().encode(s);
const padded = (n) => n + ((4 - (n % 4)) % 4);
const count = (shape) => shape.reduce((a, b) => a * b, 1);

/**
 * `magic version:u32 body crc:u32`, the body written by `parts`: a list of
 * ['u32', v] | ['u64', v] | ['f64', v] | ['text', s] | ['f32s', Float32Array].
 * Returns the bytes and the byte offset of each f32s part.
 */
function message(magic, parts) {
  let len = 8;
  for (const [kind, v] of parts) {
    len += { u32: 4, u64: 8, f64: 8 }[kind] ?? (kind === 'text' ? 4 + padded(utf8(v).length) : 4 * v.length);
  }
  const bytes = new Uint8Array(len + 4);
  const view = new DataView(bytes.buffer);
  bytes.set(utf8(magic), 0);
  view.setUint32(4, 2, true);
  let pos = 8;
  const offsets = [];
  for (const [kind, v] of parts) {
    if (kind === 'u32') view.setUint32(pos, v, true), (pos += 4);
    else if (kind === 'u64') view.setBigUint64(pos, BigInt(v), true), (pos += 8);
    else if (kind === 'f64') view.setFloat64(pos, v, true), (pos += 8);
    else if (kind === 'text') {
      const b = utf8(v);
      view.setUint32(pos, b.length, true);
      bytes.set(b, pos + 4);
      pos += 4 + padded(b.length);
    } else {
      offsets.push(pos);
      bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), pos);
      pos += 4 * v.length;
    }
  }
  view.setUint32(pos, crc32(bytes.subarray(0, pos)), true);
  return { bytes, offsets };
}

const tensorParts = (vars, data) => [
  ['u32', vars.length],
  ...vars.flatMap(([name, shape], i) => [['text', name], ['u32', shape.length], ...shape.map((d) => ['u32', d]), ['f32s', data[i]]]),
];

// messages.rs: FNV-1a 64 over, per variable, name, 0, rank and dims as u64 LE, group index (0).
function fingerprint(vars) {
  let h = 0xcbf29ce484222325n;
  const eat = (b) => (h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn);
  const u64 = (v) => new Uint8Array(new BigUint64Array([BigInt(v)]).buffer).forEach(eat);
  for (const [name, shape] of vars) {
    utf8(name).forEach(eat);
    eat(0);
    u64(shape.length);
    shape.forEach(u64);
    eat(0);
  }
  return h;
}

/** A deterministic f32 "delta" of realistic spread (|x| ~ 1e-4 .. 1e-1, both signs). */
function delta(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const u = (s >>> 0) / 2 ** 32;
    out[i] = (u - 0.5) * 10 ** -(1 + ((s >>> 8) % 4));
  }
  return out;
}

// ---- the benchmark ----

/** The plain loop: `sum[base + i] += w * u[i]`. */
function plainAdd(sum, base, w, u) {
  for (let i = 0; i < u.length; i++) sum[base + i] += w * u[i];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const agg = await loadAggregator();
/** The wasm-bindgen module built into `dir` (its ServerRound and initialState). */
async function loadBuild(dir) {
  const glue = await import(pathToFileURL(`${dir}/fedwasm_aggregator.js`).href);
  await glue.default({ module_or_path: await readFile(`${dir}/fedwasm_aggregator_bg.wasm`) });
  return glue;
}
const baseline = baselineDir && (await loadBuild(baselineDir));

function bench({ name, variables }) {
  const vars = variables;
  const n = vars.reduce((a, [, s]) => a + count(s), 0);
  const spec = JSON.stringify({
    name: 'weighted_fed_avg',
    work: { type: 'train', client_optimizer: { rule: { type: 'sgd' }, learning_rate: 0.1 }, proximal_strength: null },
    weighting: 'NUM_EXAMPLES',
    server_optimizer: { rule: { type: 'sgd' }, learning_rate: 1.0 },
    variables: vars.map(([name, shape]) => ({ name, shape, group: 'global_trainable' })),
    metrics: ['num_examples', 'num_batches', 'loss'],
    seed: 11,
  });
  const zeros = vars.map(([, s]) => new Float32Array(count(s)));
  const limits = JSON.stringify({ max_message_bytes: 2 ** 30 });
  agg.setLimits(limits);
  baseline?.setLimits(limits);
  const state = agg.initialState(spec, message('FWWT', tensorParts(vars, zeros)).bytes);
  const fp = fingerprint(vars);
  const updates = Array.from({ length: clients }, (_, k) => {
    const examples = 20 + 7 * k;
    const data = vars.map(([, s], i) => delta(count(s), 1 + 97 * k + i));
    const { bytes, offsets } = message('FWUP', [
      ['u64', 0],
      ['u64', fp],
      ['u64', k + 1],
      ['f64', examples],
      ['u32', 0],
      ['u32', 0],
      ['u32', 3],
      ['text', 'loss'], ['u32', 2], ['f64', 0.5 * examples], ['f64', examples],
      ['text', 'num_batches'], ['u32', 1], ['f64', Math.ceil(examples / 20)],
      ['text', 'num_examples'], ['u32', 1], ['f64', examples],
      ...tensorParts(vars, data),
    ]);
    // The plain loop reads the same f32 values, in place in the message.
    const views = offsets.map((o, i) => new Float32Array(bytes.buffer, o, data[i].length));
    return { bytes, views, weight: examples };
  });
  const payloadMB = (clients * n * 4) / 1e6;

  const wasm = [];
  const bounded = [];
  const setup = [];
  const finish = [];
  const plain = [];
  const checks = []; // check() alone
  const adding = []; // accept() - check(): the exact sums and the metric sums
  const addingRatios = [];
  const baseMBs = [];
  const baseRatios = [];
  // wasm / plain of each repetition (the two run back to back, so a slow
  // moment of a shared machine slows both).
  const ratios = [];
  let wasmMean = null;
  let plainMean = null;
  for (let rep = -1; rep < reps; rep++) {
    // wasm, without and with a norm bound (one that every update passes).
    for (const maxNorm of [undefined, 1e9]) {
      let t = performance.now();
      const round = new agg.ServerRound(spec, state);
      const tSetup = performance.now() - t;
      // check: every step of accept but the adding (decode, CRC-32,
      // validation), on the same round, just before.
      t = performance.now();
      if (maxNorm === undefined) for (const u of updates) round.check(u.bytes);
      const tCheck = performance.now() - t;
      t = performance.now();
      for (const u of updates) round.accept(u.bytes, maxNorm);
      const tAccept = performance.now() - t;
      t = performance.now();
      const out = round.finish();
      const tFinish = performance.now() - t;
      round.free();
      if (rep < 0) {
        if (maxNorm === undefined) wasmMean = out.state;
        continue;
      }
      (maxNorm === undefined ? wasm : bounded).push(payloadMB / (tAccept / 1e3));
      if (maxNorm === undefined) {
        setup.push(tSetup), finish.push(tFinish);
        checks.push(payloadMB / (tCheck / 1e3));
        adding.push(payloadMB / (Math.max(tAccept - tCheck, 1e-3) / 1e3));
      }
    }
    // The baseline build, on the same updates.
    if (baseline) {
      const round = new baseline.ServerRound(spec, state);
      const t = performance.now();
      for (const u of updates) round.accept(u.bytes, undefined);
      const tAccept = performance.now() - t;
      round.finish();
      round.free();
      if (rep >= 0) {
        baseMBs.push(payloadMB / (tAccept / 1e3));
        baseRatios.push(wasm[wasm.length - 1] / baseMBs[baseMBs.length - 1]);
      }
    }
    // Plain JS over the same data.
    const sum = new Float64Array(n);
    let weight = 0;
    const t = performance.now();
    for (const { views, weight: w } of updates) {
      let base = 0;
      for (const u of views) {
        plainAdd(sum, base, w, u);
        base += u.length;
      }
      weight += w;
    }
    const tPlain = performance.now() - t;
    if (rep < 0) {
      plainMean = sum.map((x) => x / weight);
      continue;
    }
    plain.push(payloadMB / (tPlain / 1e3));
    ratios.push(wasm[wasm.length - 1] / plain[plain.length - 1]);
    addingRatios.push(adding[adding.length - 1] / plain[plain.length - 1]);
  }
  // The two computed the same mean (to f32 rounding, a sanity check).
  const text = new DataView(wasmMean.buffer, wasmMean.byteOffset);
  let pos = 12 + padded(text.getUint32(8, true)) + 4;
  let worst = 0;
  let base = 0;
  for (const [tname, shape] of vars) {
    pos += 4 + padded(utf8(tname).length) + 4 + 4 * shape.length;
    for (let i = 0; i < count(shape); i++, pos += 4) {
      const got = text.getFloat32(pos, true);
      worst = Math.max(worst, Math.abs(got - plainMean[base + i]) / Math.max(1e-30, Math.abs(plainMean[base + i])));
    }
    base += count(shape);
  }
  if (!(worst < 1e-6)) throw new Error(`${name}: wasm and plain means differ by ${worst} (relative)`);
  return {
    model: name,
    parameters: n,
    clients,
    payload_mb: payloadMB,
    wasm_accept_mb_s: median(wasm),
    wasm_accept_max_norm_mb_s: median(bounded),
    plain_js_mb_s: median(plain),
    ratio: median(ratios),
    wasm_check_mb_s: median(checks),
    wasm_adding_mb_s: median(adding),
    adding_ratio: median(addingRatios),
    round_setup_ms: median(setup),
    finish_ms: median(finish),
    ...(baseline ? { baseline_accept_mb_s: median(baseMBs), wasm_over_baseline: median(baseRatios) } : {}),
    worst_relative_difference: worst,
  };
}

const only = process.argv.indexOf('--model');
const rows = MODELS.filter((m) => only < 0 || m.name === process.argv[only + 1]).map(bench);
const machine = `${availableParallelism()} cores, ${cpus()[0]?.model ?? '?'}, Node ${process.version}`;
if (asJson) {
  console.log(JSON.stringify({ machine, reps, rows }, null, 2));
} else {
  console.log(`aggregation throughput: ${machine}; ${clients} clients a round, median of ${reps} repetitions`);
  if (baseline) console.log(`baseline: ${baselineDir}`);
  const b = baseline ? ' baseline accept MB/s | this build / baseline |' : '';
  console.log(`| model | parameters | wasm accept MB/s | with maxNorm MB/s | plain JS loop MB/s | wasm / plain | check MB/s | adding (accept - check) MB/s | adding / plain | round setup ms | finish ms |${b}`);
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${baseline ? '---:|---:|' : ''}`);
  for (const r of rows) {
    const f = (x) => x.toFixed(0);
    const extra = baseline ? ` ${f(r.baseline_accept_mb_s)} | ${r.wasm_over_baseline.toFixed(2)}x |` : '';
    console.log(
      `| ${r.model} | ${r.parameters.toLocaleString('en')} | ${f(r.wasm_accept_mb_s)} | ${f(r.wasm_accept_max_norm_mb_s)} | ${f(r.plain_js_mb_s)} | ${(100 * r.ratio).toFixed(0)}% | ${f(r.wasm_check_mb_s)} | ${f(r.wasm_adding_mb_s)} | ${(100 * r.adding_ratio).toFixed(0)}% | ${r.round_setup_ms.toFixed(1)} | ${r.finish_ms.toFixed(1)} |${extra}`,
    );
  }
}
