// The status page: a coordinator's `GET /status` (pkg/PROTOCOL.md, "Status")
// read every second and shown: phase, rounds, clients, the open round's
// deadline and its clients' progress, and the metrics of every completed
// round as charts (the demo's LineChart) and a table.
//
//   status.html?status=http://127.0.0.1:8787/status
//
// Automation hook: window.fedwasmStatus = { last(): status | null,
// reachable(): boolean, polls(): number }.
import { LineChart } from './lib/chart.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const TIMEOUT_MS = 3000;

const css = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
const lossChart = new LineChart($('loss-chart'), { title: 'Training loss', series: [{ name: 'loss', color: css('--train', '#1f5fbf') }] });
const qualityChart = new LineChart($('quality-chart'), { title: 'Training accuracy', series: [{ name: 'accuracy', color: css('--eval', '#c2410c'), dash: [6, 4] }] });
const secondsChart = new LineChart($('seconds-chart'), { title: 'Round seconds', series: [{ name: 'seconds', color: css('--bar', '#4e79a7') }] });

const ui = { url: null, last: null, reachable: false, polls: 0, timer: null, shown: '', historyKey: '', received: 0 };

window.fedwasmStatus = {
  last: () => ui.last,
  reachable: () => ui.reachable,
  polls: () => ui.polls,
};

/** The /status URL from what a person typed: an http(s) URL, or the coordinator's ws(s):// URL. */
export function statusUrlOf(text) {
  const t = text.trim();
  if (!t) return null;
  let u;
  try {
    u = new URL(/^[a-z]+:\/\//i.test(t) ? t : `http://${t}`);
  } catch {
    return null;
  }
  if (u.protocol === 'ws:' || u.protocol === 'wss:') {
    u.protocol = u.protocol === 'ws:' ? 'http:' : 'https:';
    u.pathname = '/status';
  } else if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/status';
  return u.href;
}

$('where').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const url = statusUrlOf($('status-url').value);
  if (!url) {
    $('status-url').setAttribute('aria-invalid', 'true');
    unreachable('Enter the coordinator\'s status URL, for example http://127.0.0.1:8787/status.');
    $('status-url').focus();
    return;
  }
  $('status-url').removeAttribute('aria-invalid');
  watch(url);
});

function watch(url) {
  ui.url = url;
  ui.historyKey = '';
  $('status-url').value = url;
  const q = new URLSearchParams(location.search);
  q.set('status', url);
  history.replaceState(null, '', `?${q}`);
  clearTimeout(ui.timer);
  poll();
}

async function poll() {
  const url = ui.url;
  try {
    const res = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const status = await res.json();
    if (url !== ui.url) return;
    if (typeof status?.phase !== 'string' || typeof status?.task !== 'object') throw new Error('the answer is not a fedwasm coordinator\'s status');
    ui.last = status;
    ui.reachable = true;
    ui.received = Date.now();
    reachableAgain();
    render(status);
  } catch (e) {
    if (url !== ui.url) return;
    ui.reachable = false;
    const why = e.name === 'TimeoutError' ? `no answer in ${TIMEOUT_MS / 1000} s` : e.message === 'Failed to fetch' ? 'connection refused or blocked' : e.message;
    unreachable(`Cannot reach the coordinator at ${url} (${why}). ${ui.last ? `Last seen in phase ${ui.last.phase}, round ${ui.last.round} of ${ui.last.task.rounds}. ` : ''}Retrying every second.`);
    document.body.dataset.reachable = 'false';
  } finally {
    ui.polls += 1;
    if (url === ui.url) ui.timer = setTimeout(poll, POLL_MS);
  }
}

// The alert is rewritten only when its text changes: a screen reader hears it once, not every second.
function unreachable(text) {
  const el = $('unreachable');
  if (ui.shown !== text.replace(/Last seen.*$/, '')) {
    ui.shown = text.replace(/Last seen.*$/, '');
    el.textContent = text;
  }
  el.hidden = false;
}

function reachableAgain() {
  $('unreachable').hidden = true;
  ui.shown = '';
  document.body.dataset.reachable = 'true';
}

// ---- rendering ----

const PHASES = { starting: 'starting', selecting: 'selecting clients', training: 'training', done: 'done: every round complete' };

function render(s) {
  const t = s.task;
  $('phase').textContent = PHASES[s.phase] ?? s.phase;
  const open = s.current ? `; round ${s.current.round} open${s.current.attempt > 1 ? ` (attempt ${s.current.attempt})` : ''}` : '';
  $('round').textContent = `round ${s.round} of ${t.rounds} complete${open}`;
  $('task').textContent = `${t.algorithm}, ${t.model}; ${t.clientsPerRound} reports per round (${t.selected} selected, at least ${t.minReports}), deadline ${t.reportDeadlineSeconds} s`;
  $('uptime').textContent = duration(s.uptimeSeconds);
  $('c-connected').textContent = String(s.clients.connected);
  $('c-waiting').textContent = String(s.clients.waiting);
  $('c-selected').textContent = String(s.clients.selected);
  const c = s.current;
  $('c-reported').textContent = c ? `${c.reported} of ${t.clientsPerRound}` : '–';
  $('c-refused').textContent = c ? String(c.refused) : '–';
  $('c-dropped').textContent = c ? String(c.dropped) : '–';
  const refusals = Object.entries(s.refusals ?? {});
  $('refusals').textContent = refusals.length ? `Refused messages so far: ${refusals.map(([k, v]) => `${k} ${v}`).join(', ')}.` : '';
  const a = s.lastAbandoned;
  $('abandoned').textContent = a ? `Last abandoned: round ${a.round} attempt ${a.attempt} (${a.why}: ${a.reported} reports, ${a.dropped} dropped, ${a.refused} refused).` : '';
  renderCurrent(s);
  renderHistory(s);
}

function renderCurrent(s) {
  const c = s.current;
  $('current').hidden = !c;
  $('current-none').hidden = Boolean(c);
  $('current-none').textContent = s.phase === 'done' ? 'Every round is complete.' : s.phase === 'selecting' ? `Waiting for clients to check in (${s.clients.waiting} of ${s.task.selected} waiting).` : 'No round is open.';
  if (!c) return;
  $('current-what').textContent = `Round ${c.round}: ${c.reported} of ${c.selected} selected clients reported (${s.task.clientsPerRound} close it).`;
  const total = s.task.reportDeadlineSeconds;
  const left = Math.max(0, c.secondsLeft);
  $('countdown').textContent = `Deadline in ${Math.ceil(left)} s.`;
  $('deadline-bar').max = total;
  $('deadline-bar').value = left;
  const list = $('training');
  const most = Math.max(1, ...c.training.map((x) => x.examples));
  list.replaceChildren(...c.training.map(({ client, examples }) => {
    const li = document.createElement('li');
    const id = `client-progress-${client}`;
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = `client ${client}: ${examples} examples`;
    const bar = document.createElement('progress');
    bar.id = id;
    bar.max = most;
    bar.value = examples;
    li.append(label, bar);
    return li;
  }));
  if (c.training.length === 0) {
    const li = document.createElement('li');
    li.textContent = 'Every selected client has reported or left.';
    list.append(li);
  }
}

/** The training metrics of a round (TFF's nested metrics). */
export function trainMetrics(metrics) {
  const m = metrics?.client_work?.train ?? metrics?.client_work ?? {};
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return {
    loss: num(m.loss),
    accuracy: num(m.sparse_categorical_accuracy),
    mse: num(m.mean_squared_error),
    examples: num(m.num_examples),
  };
}

function renderHistory(s) {
  const h = s.history ?? [];
  const key = h.map((r) => r.round).join(',');
  if (key === ui.historyKey) return;
  ui.historyKey = key;
  const rows = h.map((r) => ({ r, m: trainMetrics(r.metrics) }));
  const ratings = rows.some(({ m }) => m.accuracy === undefined && m.mse !== undefined);
  const quality = ratings ? 'Training RMSE' : 'Training accuracy';
  $('quality-title').textContent = quality;
  qualityChart.setTitle(quality);
  document.querySelector('#rounds-table th.q').textContent = ratings ? 'RMSE' : 'Accuracy';
  lossChart.setData([rows.map(({ r, m }) => [r.round, m.loss])]);
  qualityChart.setData([rows.map(({ r, m }) => [r.round, ratings ? Math.sqrt(m.mse) : m.accuracy])]);
  secondsChart.setData([rows.map(({ r }) => [r.round, r.seconds])]);
  const fmt = (v, d = 4) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(d));
  $('rounds-table').tBodies[0].replaceChildren(...rows.map(({ r, m }) => {
    const tr = document.createElement('tr');
    const cells = [r.round, fmt(r.seconds, 2), r.reported, r.selected, r.refused, r.dropped, r.attempts, fmt(m.loss), fmt(ratings ? Math.sqrt(m.mse) : m.accuracy), r.closedBy];
    for (const v of cells) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  }));
}

function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// The countdown ticks between polls too, from the deadline the last status gave.
setInterval(() => {
  const c = ui.last?.current;
  if (!c || !ui.reachable) return;
  // secondsLeft by the coordinator's clock, less the time since it answered: no clock skew.
  const left = Math.max(0, c.secondsLeft - (Date.now() - ui.received) / 1000);
  $('countdown').textContent = `Deadline in ${Math.ceil(left)} s.`;
  $('deadline-bar').value = left;
}, 250);

// ---- start ----

const q = new URLSearchParams(location.search);
const start = q.get('status') ?? q.get('coordinator');
if (start) {
  const url = statusUrlOf(start);
  if (url) watch(url);
  else unreachable(`The page's address names no status URL: ${start}`);
} else {
  $('current-none').textContent = 'Enter a coordinator\'s status URL above.';
}
