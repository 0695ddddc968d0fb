// The coordinator under load, side by side for several client counts in one
// run: `fedwasm serve` (its own process) with N simulated clients
// (swarm.mjs) that each report a cnn_dropout-sized update (1.2 M floats,
// 4.8 MB) after a random delay of up to SPREAD ms. Per N it prints
//   - round overhead: from the slowest client's report being sent to the
//     round closing (transfer, validation and exact aggregation of the last
//     reports, the server update, the checkpoint), median over the rounds;
//   - the coordinator's peak resident memory (sampled every 25 ms, and the
//     kernel's VmHWM), and its resident memory before any client connected.
//
//   node tests/pkg-bench/coordinator.mjs [--clients 10,100,1000] [--rounds 2] [--spread-ms 5000] [--json]
// Needs pkg/wasm (bash tests/build-pkg.sh), the aggregator and pkg/node_modules (npm ci in pkg/).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '10,100,1000' },
    rounds: { type: 'string', default: '2' },
    'spread-ms': { type: 'string', default: '5000' },
    json: { type: 'boolean', default: false },
    uploads: { type: 'string', default: '8' },
  },
});
const root = new URL('../../', import.meta.url);
const CLI = new URL('pkg/bin/fedwasm.js', root).pathname;
const SWARM = new URL('tests/pkg-bench/swarm.mjs', root).pathname;
const rounds = Number(args.rounds);
const spreadMs = Number(args['spread-ms']);
const PER_SWARM = 500;

function memKiB(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function lines(stream, onLine) {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

async function runOne(n) {
  const dir = mkdtempSync(join(tmpdir(), 'fedwasm-bench-'));
  const tokens = Array.from({ length: n }, (_, i) => `bench-token-${String(i).padStart(6, '0')}`);
  writeFileSync(join(dir, 'task.json'), JSON.stringify({
    model: { builtin: 'cnnDropout', options: { classes: 10 } },
    algorithm: 'weightedFedAvg',
    rounds,
    clientsPerRound: n,
    minReports: Math.ceil(n * 0.9),
    reportDeadlineSeconds: 600,
    selectionTimeoutSeconds: 600,
    tokens,
    limits: { connections: n + 10, concurrentUploads: Number(args.uploads) },
  }));
  const server = spawn(process.execPath, [CLI, 'serve', '--task', join(dir, 'task.json'), '--port', '0', '--state-dir', join(dir, 'state')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    lines(server.stdout, (l) => {
      const m = /listening on (\S+) \(status: (\S+);/.exec(l);
      if (m) resolve({ ws: m[1], status: m[2] });
    });
    server.on('exit', (code) => reject(new Error(`fedwasm serve exited with ${code}`)));
  });
  await new Promise((r) => setTimeout(r, 500));
  const idleRss = memKiB(server.pid, 'VmRSS');
  let peak = idleRss;
  const sampler = setInterval(() => {
    const v = memKiB(server.pid, 'VmRSS');
    if (v !== null && v > peak) peak = v;
  }, 25);
  const sent = new Map(); // round -> last send time over all swarms
  const swarms = [];
  for (let first = 0; first < n; first += PER_SWARM) {
    const s = spawn(process.execPath, [SWARM, url.ws, String(first), String(Math.min(PER_SWARM, n - first)), String(spreadMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    lines(s.stdout, (l) => {
      const r = JSON.parse(l);
      sent.set(r.round, Math.max(sent.get(r.round) ?? 0, r.lastSendAt));
    });
    swarms.push(s);
  }
  let status;
  for (;;) {
    try {
      status = await (await fetch(url.status)).json();
    } catch {
      // A keep-alive connection the server closed as it was reused: ask again.
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    if (status.phase === 'done') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  clearInterval(sampler);
  const hwm = memKiB(server.pid, 'VmHWM');
  for (const s of swarms) s.kill('SIGTERM');
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  const overheads = status.history.map((h) => Date.parse(h.startedAt) + h.seconds * 1000 - sent.get(h.round));
  overheads.sort((a, b) => a - b);
  return {
    clients: n,
    updateFloats: 1_199_882,
    roundSeconds: status.history.map((h) => h.seconds),
    reported: status.history.map((h) => h.reported),
    overheadMs: overheads,
    medianOverheadMs: overheads[Math.floor(overheads.length / 2)],
    idleRssMiB: idleRss / 1024,
    peakRssMiB: peak / 1024,
    hwmMiB: hwm / 1024,
  };
}

const results = [];
for (const n of args.clients.split(',').map(Number)) results.push(await runOne(n));
if (args.json) {
  console.log(JSON.stringify({ cpu: cpus()[0].model, cores: cpus().length, spreadMs, rounds, results }, null, 2));
} else {
  console.log(`coordinator benchmark: ${rounds} rounds, reports spread over ${spreadMs} ms, ${cpus().length} x ${cpus()[0].model}`);
  console.log('| clients | reports per round | round seconds | overhead after the slowest client (median) | RSS idle | RSS peak | VmHWM |');
  console.log('|---:|---|---|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${r.clients} | ${r.reported.join(', ')} | ${r.roundSeconds.map((s) => s.toFixed(1)).join(', ')} | ${r.medianOverheadMs.toFixed(0)} ms | ${r.idleRssMiB.toFixed(0)} MiB | ${r.peakRssMiB.toFixed(0)} MiB | ${r.hwmMiB.toFixed(0)} MiB |`);
  }
}
