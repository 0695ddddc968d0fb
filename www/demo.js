// The demo page: settings form, run / pause / stop, live charts, the
// clients' data, backend badge, progress, export.
//
// Automation hook (the headless driver www/headless.mjs and
// tests/e2e/demo.test.mjs use it; stable within this repository):
//
//   window.fedwasmDemo = {
//     ready: Promise<void>,          // engine, data view and form are set up
//     state: 'idle' | 'loading' | 'running' | 'paused' | 'done' | 'stopped' | 'error',
//     history: RoundRecord[],        // a copy: { round, seconds, clients, train, eval, backend, metrics }
//                                    //   train/eval: { loss, accuracy, rmse?, examples } (round 0: eval only)
//     params: object,                // the settings the last run used (params.js names)
//     backend: BackendInfo | BackendInfo[] | null,   // what the last round ran on
//     errors: string[],              // errors shown on the page
//     run(overrides?): Promise<{ state, history }>,  // sets the form (params.js names), then runs
//     done(): Promise<{ state, history }>,           // the current (or last) run's end
//     pause(), resume(), stop(),
//     toCSV(): string, toJSON(): string,
//   }
//
// Every round also dispatches `fedwasm-demo:round` on window (detail: the
// round's record), and the end of a run `fedwasm-demo:done`.
import { ready, backendInfo, WorkerPool } from '../pkg/src/index.js';
import { TASKS, DEFAULT_TASK, KNOBS, defaults, parseKnob, fromQuery } from './lib/params.js';
import { loadData, runExperiment } from './lib/experiment.js';
import { LineChart } from './lib/chart.js';
import { BarChart } from './lib/bars.js';
import { drawDigits } from './lib/digits.js';
import { toCSV, toJSON, download } from './lib/export.js';

const $ = (id) => document.getElementById(id);
const form = $('settings');
const FORM_KNOBS = Object.keys(KNOBS).filter((name) => form.elements.namedItem(name));

const css = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
const SERIES = () => [
  { name: 'training', color: css('--train', '#1f5fbf') },
  { name: 'evaluation', color: css('--eval', '#c2410c'), dash: [6, 4] },
];
const lossChart = new LineChart($('loss-chart'), { title: 'Loss', series: SERIES() });
const qualityChart = new LineChart($('quality-chart'), { title: 'Accuracy', series: SERIES() });
const perClientChart = new BarChart($('per-client-chart'), { title: 'Examples per client', onPick: (i) => pickClient(i) });
const labelsChart = new BarChart($('labels-chart'), { title: 'Label counts' });

const ui = {
  state: 'idle',
  history: [],
  params: null,
  backend: null,
  errors: [],
  run: null, // { controller, paused, resume, promise }
  pool: null,
  data: null,
  file: null,
  started: null,
  model: null,
};

// ---- settings ----

function setForm(values) {
  for (const [name, v] of Object.entries(values)) {
    const el = form.elements.namedItem(name);
    if (el) el.value = String(v);
  }
  showFor(values.task ?? form.elements.task.value);
}

/** The form's settings, checked; throws an Error naming the bad field (and focuses it). */
function readForm() {
  const task = form.elements.task.value;
  const out = { task };
  for (const name of FORM_KNOBS) {
    const el = form.elements.namedItem(name);
    if (el.closest('[hidden]')) continue;
    try {
      out[name] = parseKnob(name, el.value.trim());
      el.removeAttribute('aria-invalid');
    } catch (err) {
      el.setAttribute('aria-invalid', 'true');
      el.focus();
      throw new Error(`${el.labels?.[0]?.textContent ?? name}: ${err.message}`);
    }
  }
  return { ...defaults(task, out.source), ...out };
}

/** Shows the fields of `task` (data-show: femnist, ratings, fedprox, synthetic, movielens). */
function showFor(task) {
  const t = TASKS[task];
  const source = form.elements.source.value;
  const on = new Set([t.data, t.algorithm]);
  if (t.data === 'ratings') on.add(source);
  for (const el of document.querySelectorAll('[data-show]')) el.hidden = !on.has(el.dataset.show);
  const ratings = t.data === 'ratings';
  const quality = ratings ? 'RMSE' : 'Accuracy';
  $('quality-title').textContent = quality;
  qualityChart.setTitle(quality);
  for (const th of document.querySelectorAll('#metrics-table th.q')) th.textContent = `${th.textContent.split(' ')[0]} ${quality.toLowerCase() === 'rmse' ? 'RMSE' : 'accuracy'}`;
  $('eval-what').textContent = ratings ? 'FedReconEval on held-out users' : 'FedEval on the test split';
}

// ---- data view ----

async function showData(params) {
  setStatus('Loading data…');
  const data = await loadData(params, ui.file);
  ui.data = data;
  $('data-badge').textContent = `Data: ${data.describe}`;
  const ids = data.trainIds;
  const counts = ids.map((id) => data.train.numExamples(id));
  const isRatings = data.kind === 'ratings';
  $('data-intro').textContent = isRatings
    ? 'Each user is one client: users rate different numbers of items; their own vectors never leave them (Federated Reconstruction).'
    : "Each writer is one client: clients hold different numbers of digits, in different proportions, as in TFF's EMNIST tutorial.";
  $('per-client-title').textContent = isRatings ? 'Ratings per training user' : 'Digits per client (training split)';
  perClientChart.setData({
    title: 'Examples per client',
    labels: ids.map((_, i) => i + 1),
    values: counts,
    describe: `Examples per client, ${ids.length} clients: from ${Math.min(...counts)} to ${Math.max(...counts)}`,
  });
  const pick = $('client-pick');
  pick.replaceChildren(...ids.map((id, i) => new Option(`${i + 1}: ${id} (${counts[i]} examples)`, String(i))));
  pickClient(0);
  setStatus('Ready.');
}

function pickClient(i) {
  const data = ui.data;
  if (!data || !data.trainIds[i]) return;
  const id = data.trainIds[i];
  $('client-pick').value = String(i);
  const counts = data.trainIds.map((c) => data.train.numExamples(c));
  perClientChart.setData({
    labels: data.trainIds.map((_, k) => k + 1),
    values: counts,
    highlight: i,
    describe: `Examples per client, ${counts.length} clients; client ${id} has ${counts[i]}`,
  });
  let labels;
  let values;
  if (data.kind === 'femnist') {
    values = data.train.labelCounts(id);
    labels = values.map((_, k) => k);
    drawDigits($('digits'), data.train.examples(id, { start: 0, count: Math.min(20, counts[i]) }), { columns: 5, scale: 3 });
  } else {
    const { y } = data.train.examples(id, { start: 0, count: counts[i] });
    values = [0, 0, 0, 0, 0];
    for (const r of y) values[Math.max(1, Math.min(5, Math.round(r))) - 1] += 1;
    labels = [1, 2, 3, 4, 5];
  }
  $('labels-title').textContent = data.kind === 'femnist' ? `Digit counts of client ${id}` : `Ratings (rounded) of user ${id}`;
  labelsChart.setData({
    title: 'Label counts',
    labels,
    values,
    describe: `${data.kind === 'femnist' ? 'Digit' : 'Rating'} counts of ${id}: ${labels.map((l, k) => `${l}: ${values[k]}`).join(', ')}`,
  });
}

// ---- status, errors, badge ----

function setStatus(text) {
  $('status').textContent = text;
}

function showError(err) {
  const msg = err?.code ? `${err.message} (${err.code})` : String(err?.message ?? err);
  ui.errors.push(msg);
  const el = $('error');
  el.textContent = msg;
  el.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function backendText(b) {
  return (Array.isArray(b) ? b : [b]).map((x) => `${x.kind === 'webgpu' ? 'WebGPU' : 'CPU'}: ${x.adapter}${x.software && x.kind === 'webgpu' ? ' (software)' : ''}`).join(' + ');
}

function setBadge(text, b) {
  const el = $('backend-badge');
  el.textContent = text;
  const kinds = b ? (Array.isArray(b) ? b : [b]).map((x) => x.kind) : [];
  el.classList.toggle('gpu', kinds.includes('webgpu'));
  el.classList.remove('warn');
}

async function probeBackend() {
  const choice = form.elements.backend.value;
  try {
    const info = await backendInfo({ backend: choice });
    setBadge(`Backend (${choice}, this page): ${backendText(info)}`, info);
  } catch (err) {
    setBadge(`Backend ${choice}: unavailable here (${err.message})`, null);
    $('backend-badge').classList.add('warn');
  }
}

// ---- charts and table ----

function quality(r) {
  return ui.data?.kind === 'ratings' ? r?.rmse : r?.accuracy;
}

function redrawMetrics() {
  const h = ui.history;
  const train = h.filter((r) => r.train);
  const ev = h.filter((r) => r.eval);
  lossChart.setData([train.map((r) => [r.round, r.train.loss]), ev.map((r) => [r.round, r.eval.loss])]);
  qualityChart.setData([train.map((r) => [r.round, quality(r.train)]), ev.map((r) => [r.round, quality(r.eval)])]);
  const f = (v) => (Number.isFinite(v) ? v.toFixed(4) : '–');
  $('metrics-table').tBodies[0].replaceChildren(
    ...h.map((r) => {
      const tr = document.createElement('tr');
      for (const [i, v] of [r.round, r.seconds.toFixed(2), f(r.train?.loss), f(quality(r.train)), f(r.eval?.loss), f(quality(r.eval))].entries()) {
        const cell = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) cell.scope = 'row';
        cell.textContent = String(v);
        tr.append(cell);
      }
      return tr;
    }),
  );
}

// ---- running ----

function setState(state) {
  ui.state = state;
  const active = state === 'running' || state === 'paused' || state === 'loading';
  $('run').disabled = active;
  $('pause').disabled = !(state === 'running' || state === 'paused');
  $('stop').disabled = !active;
  $('pause').textContent = state === 'paused' ? 'Resume' : 'Pause';
  $('pause').setAttribute('aria-pressed', String(state === 'paused'));
  $('export-csv').disabled = ui.history.length === 0 || active;
  $('export-json').disabled = ui.history.length === 0 || active;
  for (const el of form.querySelectorAll('fieldset')) el.disabled = active;
  document.body.dataset.state = state;
}

async function ensurePool(size) {
  if (size === 0) {
    ui.pool?.close();
    ui.pool = null;
    return null;
  }
  if (ui.pool && ui.pool.size === size) return ui.pool;
  ui.pool?.close();
  ui.pool = null;
  ui.pool = await WorkerPool.create({ size });
  return ui.pool;
}

function startRun() {
  if (ui.run) return ui.run.promise;
  clearError();
  let params;
  try {
    params = readForm();
  } catch (err) {
    showError(err);
    return Promise.resolve({ state: ui.state, history: ui.history.slice() });
  }
  const controller = new AbortController();
  const run = { controller, paused: false, resume: null };
  ui.run = run;
  ui.params = params;
  ui.history = [];
  ui.backend = null;
  ui.started = new Date().toISOString();
  redrawMetrics();
  setState('loading');
  run.promise = (async () => {
    try {
      await showData(params);
      setStatus(params.workers ? `Starting ${params.workers} Web Worker${params.workers > 1 ? 's' : ''}…` : 'Running on this page’s thread…');
      const pool = await ensurePool(params.workers);
      setState('running');
      const progress = $('round-progress');
      const out = await runExperiment({
        params,
        data: ui.data,
        pool,
        signal: controller.signal,
        beforeRound: async (round) => {
          if (run.paused) {
            setState('paused');
            setStatus(`Paused before round ${round}.`);
            await new Promise((resolve) => {
              run.resume = resolve;
            });
            if (!controller.signal.aborted) setState('running');
          }
        },
        onProgress: (e) => {
          progress.value = e.clientsTotal ? e.clientsDone / e.clientsTotal : 0;
          const what = e.phase === 'evaluate' ? 'evaluating' : 'training';
          $('progress-label').textContent = `Round ${e.round} of ${params.rounds}: ${what}, ${e.clientsDone} of ${e.clientsTotal} clients`;
          progress.setAttribute('aria-valuetext', `${e.clientsDone} of ${e.clientsTotal} clients`);
          if (e.phase === 'train') setStatus(`Round ${e.round}: ${e.clientsDone}/${e.clientsTotal} clients, ${Math.round(e.examplesPerSecond)} examples/s`);
        },
        onRound: (record) => {
          ui.history.push(record);
          if (record.backend) {
            ui.backend = record.backend;
            setBadge(`Ran on ${backendText(record.backend)}`, record.backend);
          }
          redrawMetrics();
          const q = ui.data.kind === 'ratings' ? 'RMSE' : 'accuracy';
          const e = record.eval;
          setStatus(`Round ${record.round} of ${params.rounds}: evaluation loss ${e.loss.toFixed(4)}, ${q} ${quality(e).toFixed(4)}`);
          window.dispatchEvent(new CustomEvent('fedwasm-demo:round', { detail: record }));
        },
      });
      ui.model = out.model;
      setState(controller.signal.aborted ? 'stopped' : 'done');
      setStatus(controller.signal.aborted ? 'Stopped.' : `Done: ${params.rounds} rounds.`);
    } catch (err) {
      if (err?.code === 'cancelled' || controller.signal.aborted) {
        setState('stopped');
        setStatus(`Stopped after ${Math.max(0, ui.history.length - 1)} rounds.`);
      } else {
        setState('error');
        setStatus('Failed.');
        showError(err);
      }
    } finally {
      ui.run = null;
      setState(ui.state);
      $('round-progress').value = 0;
      $('progress-label').textContent = 'Round progress';
    }
    const result = { state: ui.state, history: ui.history.slice() };
    window.dispatchEvent(new CustomEvent('fedwasm-demo:done', { detail: result }));
    return result;
  })();
  lastRun = run.promise;
  return run.promise;
}

let lastRun = Promise.resolve({ state: 'idle', history: [] });

function pause() {
  if (ui.run && ui.state === 'running') {
    ui.run.paused = true;
    $('pause').textContent = 'Resume';
    $('pause').setAttribute('aria-pressed', 'true');
    setStatus('Pausing after this round…');
  }
}

function resume() {
  if (!ui.run) return;
  ui.run.paused = false;
  const r = ui.run.resume;
  ui.run.resume = null;
  r?.();
  $('pause').textContent = 'Pause';
  $('pause').setAttribute('aria-pressed', 'false');
}

function stop() {
  if (!ui.run) return;
  ui.run.controller.abort();
  setStatus('Stopping…');
  resume();
}

function exportRun() {
  return {
    task: ui.params?.task,
    params: ui.params,
    started: ui.started,
    data: ui.data?.describe,
    model: ui.model,
    backend: ui.backend,
    history: ui.history,
  };
}

// ---- wiring ----

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  startRun();
});
$('pause').addEventListener('click', () => (ui.run?.paused ? resume() : pause()));
$('stop').addEventListener('click', stop);
$('reset').addEventListener('click', () => {
  setForm(defaults(form.elements.task.value, form.elements.source.value));
  probeBackend();
  refreshData();
});
$('export-csv').addEventListener('click', () => download(`fedwasm-${ui.params?.task ?? 'run'}-metrics.csv`, toCSV(ui.history), 'text/csv'));
$('export-json').addEventListener('click', () => download(`fedwasm-${ui.params?.task ?? 'run'}-metrics.json`, toJSON(exportRun()), 'application/json'));
form.elements.task.addEventListener('change', () => {
  setForm(defaults(form.elements.task.value));
  refreshData();
});
form.elements.source.addEventListener('change', () => {
  setForm(defaults(form.elements.task.value, form.elements.source.value));
  refreshData();
});
form.elements.backend.addEventListener('change', probeBackend);
$('ratings-file').addEventListener('change', (ev) => {
  ui.file = ev.target.files?.[0] ?? null;
  refreshData();
});
$('client-pick').addEventListener('change', (ev) => pickClient(Number(ev.target.value)));
for (const name of ['clients', 'items']) form.elements.namedItem(name).addEventListener('change', () => refreshData());

/** Redraws the data view for the form's task (when not running). */
async function refreshData() {
  if (ui.run) return;
  clearError();
  try {
    const params = readForm();
    if (params.source === 'movielens' && !ui.file && TASKS[params.task].data === 'ratings') {
      setStatus('Choose a MovieLens ratings file.');
      return;
    }
    await showData(params);
  } catch (err) {
    showError(err);
  }
}

const readyPromise = (async () => {
  let initial = defaults(DEFAULT_TASK);
  try {
    const q = fromQuery(location.search);
    initial = { ...defaults(q.task ?? DEFAULT_TASK, q.source), ...q };
  } catch (err) {
    showError(err);
  }
  setForm(initial);
  setState('idle');
  try {
    await ready();
    await Promise.all([probeBackend(), showData(readForm())]);
  } catch (err) {
    showError(err);
  }
})();

/** See the top of this file. */
window.fedwasmDemo = {
  ready: readyPromise,
  get state() {
    return ui.state;
  },
  get history() {
    return structuredClone(ui.history);
  },
  get params() {
    return ui.params && { ...ui.params };
  },
  get backend() {
    return ui.backend;
  },
  get errors() {
    return ui.errors.slice();
  },
  async run(overrides = {}) {
    await readyPromise;
    if (ui.run) return ui.run.promise;
    if (Object.keys(overrides).length) {
      setForm({ ...(overrides.task ? defaults(overrides.task, overrides.source) : {}), ...overrides });
    }
    return startRun();
  },
  done: () => lastRun,
  pause,
  resume,
  stop,
  toCSV: () => toCSV(ui.history),
  toJSON: () => toJSON(exportRun()),
};
