// The client page: a person joins a coordinator (`fedwasm serve`) from this
// tab with their own examples (digit images or a ratings file), through the
// package's `connect()`. The examples are parsed and trained here; only the
// updates go out. The page shows the model the coordinator announces in its
// welcome and leaves, with a message, when the data does not fit it.
//
// Automation (tests/coordinator/tabs.mjs, tests/e2e/client-page.test.mjs):
//   ?coordinator=ws://…&token=…&pack=data/femnist_digits_100.bin&writer=ID&backend=cpu&autojoin=1
// loads writer ID of the pack (train split) instead of picked files and joins.
//   window.fedwasmClient = {
//     state(): 'idle' | 'loading' | 'connecting' | 'waiting' | 'training' | 'reporting'
//              | 'done' | 'left' | 'refused' | 'error',
//     events: { type, at, ...detail }[],   // every client event (runs of progress kept as their latest)
//     reports(): number,                   // reports the coordinator accepted
//     localStateBytes(): Promise<number>,  // bytes of the local variables kept (0: none)
//     welcome(): object | null,
//   }
import { ClientData, connect } from '../pkg/src/index.js';
import { describeSpec, fitProblem, imageSide, modelLine } from './lib/fit.js';

const $ = (id) => document.getElementById(id);
const form = $('join');
const MAX_LOG = 500;

// The page's address (automation: see the top of this file).
const query = new URLSearchParams(location.search);
const params = {
  coordinator: query.get('coordinator'),
  token: query.get('token'),
  pack: query.get('pack'),
  writer: query.get('writer'),
  backend: query.get('backend'),
  autojoin: query.get('autojoin') === '1',
};

const ui = {
  state: 'idle',
  client: null,
  events: [],
  trained: 0,
  model: null, // the last welcome's model (describeSpec)
  ratings: null, // { data, file, format } parsed when picked
  view: null, // what fitProblem checks of the examples joined with
  lastClient: null,
  parses: 0, // ratings files parsed: a slow parse of an earlier pick is dropped
};

// ---- automation hook ----

// It keeps answering for the last client after it has left or finished.
const current = () => ui.client ?? ui.lastClient;
window.fedwasmClient = {
  state: () => ui.state,
  events: ui.events,
  reports: () => current()?.reports ?? 0,
  localStateBytes: async () => (await current()?.localState())?.length ?? 0,
  welcome: () => current()?.welcome ?? null,
};

// ---- form ----

function showKind() {
  const kind = form.elements.kind.value;
  // A pack named in the address replaces picked files: no pickers then.
  $('kind').closest('.field').hidden = Boolean(params.pack);
  for (const el of document.querySelectorAll('[data-kind]')) el.hidden = Boolean(params.pack) || el.dataset.kind !== kind;
  $('user-field').hidden = Boolean(params.pack) || !(kind === 'ratings' && ui.ratings && ui.ratings.data.clientIds.length > 1);
  summarizeData();
}

function summarizeData() {
  const kind = form.elements.kind.value;
  let text;
  if (params.pack) text = `FEMNIST pack ${params.pack}, writer ${params.writer ?? '(the first)'} (from the page's address).`;
  else if (kind === 'images') {
    const n = $('images').files.length;
    text = n ? `${n} image${n === 1 ? '' : 's'} picked; decoded when you join.` : 'No images picked yet.';
  } else if (ui.ratings) {
    const { data, file } = ui.ratings;
    const id = $('user').value;
    text = `${file}: ${data.clientIds.length} user${data.clientIds.length === 1 ? '' : 's'}; client ${id} has ${data.numExamples(id)} ratings.`;
  } else text = 'No ratings file picked yet.';
  $('data-summary').textContent = text;
}

async function parseRatings() {
  const file = $('ratings').files[0];
  ui.ratings = null;
  $('user').replaceChildren();
  if (!file) {
    showKind();
    return;
  }
  const format = $('ratings-format').value;
  const generation = ++ui.parses;
  $('data-summary').textContent = `Reading ${file.name}…`;
  try {
    const data = format === 'movielens'
      ? await ClientData.fromMovieLens(file)
      : await ClientData.fromCsv(file, { label: 'rating', client: 'user', features: ['item'] });
    if (generation !== ui.parses) return; // another file (or format) was picked meanwhile
    ui.ratings = { data, file: file.name, format };
    $('user').replaceChildren(...data.clientIds.map((id) => new Option(`${id} (${data.numExamples(id)} ratings)`, id)));
    hideError();
  } catch (e) {
    if (generation !== ui.parses) return;
    showError(`${file.name} could not be read as ${format === 'csv' ? 'CSV user,item,rating' : 'MovieLens ratings'}: ${e.message}`);
  }
  showKind();
}

$('kind').addEventListener('change', showKind);
$('images').addEventListener('change', summarizeData);
$('ratings').addEventListener('change', parseRatings);
$('ratings-format').addEventListener('change', parseRatings);
$('user').addEventListener('change', summarizeData);

// ---- data ----

/**
 * The examples to join with: `{ data, clientId, view }`, view being what
 * `fitProblem` checks. Throws an Error with a message for the page.
 */
async function loadData() {
  if (params.pack) {
    const res = await fetch(new URL(params.pack, location.href));
    if (!res.ok) throw new Error(`the pack ${params.pack} answered HTTP ${res.status}`);
    const data = await ClientData.fromFemnistPack(new Uint8Array(await res.arrayBuffer()), { split: 'train' });
    const clientId = params.writer ?? data.clientIds[0];
    if (!data.clientIds.includes(clientId)) throw new Error(`writer ${clientId} is not in ${params.pack} (${data.clientIds.length} writers)`);
    return { data, clientId, view: viewOf(data, clientId, 'pack') };
  }
  if (form.elements.kind.value === 'images') {
    const files = [...$('images').files];
    if (files.length === 0) throw new Error('Pick some digit images first (PNG or JPEG; the label is the first digit of each file name).');
    const unlabelled = files.filter((f) => !/\d/.test(f.name));
    if (unlabelled.length) throw new Error(`These file names have no digit to take the label from: ${unlabelled.slice(0, 5).map((f) => f.name).join(', ')}${unlabelled.length > 5 ? ', …' : ''}.`);
    // The announced model's image size when this tab has seen a welcome (else MNIST's 28).
    const size = (ui.model && imageSide(ui.model)) || 28;
    const classes = ui.model?.classes ?? 10;
    const data = await ClientData.fromImages(files, { size, classes: Math.max(10, classes) });
    return { data, clientId: 'local', view: viewOf(data, 'local', 'images') };
  }
  if (!ui.ratings) throw new Error('Pick a ratings file first.');
  const { data } = ui.ratings;
  const clientId = $('user').value || data.clientIds[0];
  return { data, clientId, view: viewOf(data, clientId, 'ratings') };
}

/** What fitProblem needs to know of one client's examples. */
function viewOf(data, id, kind) {
  const spec = data.elementSpec;
  const view = { kind, xShape: spec.xShape, label: spec.label };
  if (spec.label !== 'real') {
    const counts = data.labelCounts(id);
    view.maxLabel = counts.reduce((m, c, k) => (c > 0 ? k : m), -1);
  } else {
    const { x } = data.examples(id, { start: 0, count: data.numExamples(id) });
    let max = -Infinity;
    let integer = true;
    for (const v of x) {
      if (v > max) max = v;
      if (!(Number.isInteger(v) && v >= 0)) integer = false;
    }
    view.maxItem = max;
    view.itemsInteger = integer;
  }
  return view;
}

// ---- joining ----

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  join();
});
$('leave-button').addEventListener('click', () => leave('left'));

function readConnection() {
  const url = form.elements.url.value.trim();
  const token = form.elements.token.value;
  if (!/^wss?:\/\/[^/\s]+/.test(url)) {
    invalidField('url', 'The coordinator URL must start with ws:// or wss:// (for example ws://127.0.0.1:8787/).');
  }
  if (token === '') invalidField('token', 'Enter the token the coordinator\'s operator gave you.');
  form.elements.url.removeAttribute('aria-invalid');
  form.elements.token.removeAttribute('aria-invalid');
  return { url, token, backend: form.elements.backend.value };
}

function invalidField(name, message) {
  const el = form.elements[name];
  el.setAttribute('aria-invalid', 'true');
  el.focus();
  throw new Error(message);
}

async function join() {
  if (ui.client) return;
  hideError();
  let conn;
  try {
    conn = readConnection();
  } catch (e) {
    showError(e.message);
    return;
  }
  setJoined(true);
  setState('loading');
  let loaded;
  try {
    loaded = await loadData();
  } catch (e) {
    setJoined(false);
    setState('idle');
    showError(e.message);
    return;
  }
  ui.trained = 0;
  $('s-trained').textContent = '0';
  $('s-accepted').textContent = '0';
  $('s-local').textContent = '–';
  let client;
  try {
    client = connect(conn.url, { token: conn.token, data: loaded.data, clientId: loaded.clientId, backend: conn.backend });
  } catch (e) {
    setJoined(false);
    setState('idle');
    showError(e.message);
    return;
  }
  ui.client = client;
  ui.view = loaded.view;
  setState('connecting');
  log('join', `joining ${conn.url} as client ${loaded.clientId} (${loaded.data.numExamples(loaded.clientId)} examples, backend ${conn.backend})`);
  for (const type of ['connect', 'welcome', 'roundstart', 'progress', 'report', 'accepted', 'roundclosed', 'error', 'disconnect', 'done']) {
    client.on(type, (detail) => onEvent(client, type, detail));
  }
  client.done.then(
    () => {
      if (ui.client === client && ui.state !== 'refused') finish(client, client.state === 'done' ? 'done' : 'left');
    },
    (e) => {
      if (ui.client !== client) return;
      showError(fatalMessage(e));
      finish(client, 'error');
    },
  );
}

function leave(state) {
  const client = ui.client;
  if (!client) return;
  client.close();
  log('leave', state === 'left' ? 'left the coordinator' : 'left the coordinator: the data does not fit its model');
  finish(client, state);
}

function finish(client, state) {
  if (ui.client !== client) return;
  ui.client = null;
  ui.lastClient = client;
  setState(state);
  setJoined(false);
  $('train-progress').value = state === 'done' ? 1 : 0;
}

function fatalMessage(e) {
  if (e?.reason === 'unknown_token') return 'The coordinator does not know this token (unknown_token). Check the token and join again.';
  return `The coordinator refused this client${e?.reason ? ` (${e.reason})` : ''}: ${e?.message ?? e}`;
}

// ---- events ----

function onEvent(client, type, detail) {
  if (ui.client !== client) return;
  record(type, detail);
  switch (type) {
    case 'connect':
      setState('connecting');
      log(type, `connected to ${detail.url}${detail.attempt ? ` (reconnect ${detail.attempt})` : ''}; saying hello`);
      break;
    case 'welcome': {
      ui.model = describeSpec(detail.modelSpec);
      $('s-model').textContent = modelLine(ui.model);
      $('s-algorithm').textContent = `${detail.algorithm}${detail.keepsLocals ? ' (local variables stay in this browser)' : ''}`;
      $('s-round').textContent = `${detail.round} of ${detail.rounds} complete`;
      log(type, `welcome: client key ${detail.clientKey}, ${detail.algorithm}, model ${modelLine(ui.model)}, ${detail.round} of ${detail.rounds} rounds complete`);
      const problem = fitProblem(ui.model, ui.view);
      if (problem) {
        // Leaving in the welcome's listener: the client has not checked in yet, so no task comes.
        showError(`Your data does not fit the coordinator's model. ${problem}`);
        log('refused', problem, 'error');
        leave('refused');
        return;
      }
      setState(client.state === 'connecting' ? 'waiting' : client.state);
      break;
    }
    case 'roundstart': {
      setState('training');
      const secs = Math.max(0, Math.round((detail.deadline - Date.now()) / 1000));
      $('s-round').textContent = `training round ${detail.round}`;
      $('train-progress').removeAttribute('value');
      $('progress-text').textContent = `Round ${detail.round}: starting…`;
      log(type, `selected for round ${detail.round} (task ${detail.task}); report due in ${secs} s`);
      break;
    }
    case 'progress':
      $('progress-text').textContent = `Round ${detail.round}: ${detail.phase}, ${detail.batches} batches, ${detail.examples} examples${Number.isFinite(detail.loss) ? `, loss ${detail.loss.toFixed(4)}` : ''}`;
      break;
    case 'report': {
      ui.trained += 1;
      setState('reporting');
      $('s-trained').textContent = String(ui.trained);
      const b = detail.backend ?? {};
      $('s-backend').textContent = backendLine(b);
      $('train-progress').value = 1;
      $('progress-text').textContent = `Round ${detail.round}: trained; update sent.`;
      log(type, `round ${detail.round}: sent the update (${detail.bytes} bytes), trained on ${backendLine(b)}`);
      showLocalState(client);
      break;
    }
    case 'accepted':
      $('s-accepted').textContent = String(client.reports);
      $('s-round').textContent = `round ${detail.round}: report accepted`;
      log(type, `round ${detail.round}: the coordinator accepted the report`);
      setState(client.state);
      break;
    case 'roundclosed':
      log(type, `round closed for task ${detail.task} (${detail.reason})`);
      $('train-progress').value = 0;
      setState(client.state);
      break;
    case 'error': {
      const e = detail.error;
      log(type, `${e?.reason ? `${e.reason}: ` : ''}${e?.message ?? e}`, 'error');
      break;
    }
    case 'disconnect':
      log(type, `disconnected (${detail.code}${detail.reason ? `: ${detail.reason}` : ''})${detail.willReconnect ? `; reconnecting in ${(detail.delayMs / 1000).toFixed(1)} s` : ''}`);
      if (detail.willReconnect) setState('connecting');
      break;
    case 'done':
      log(type, `done: all ${detail.rounds} rounds complete`);
      $('s-round').textContent = `${detail.rounds} of ${detail.rounds} complete`;
      finish(client, 'done');
      break;
    default:
      break;
  }
}

function backendLine(b) {
  if (!b.kind) return 'unknown';
  if (b.kind !== 'webgpu') return `CPU${b.adapter ? ` (${b.adapter})` : ''}`;
  return `WebGPU${b.adapter ? ` (${b.adapter}${b.software ? ', a software renderer' : ''})` : ''}`;
}

async function showLocalState(client) {
  if (!client.welcome?.keepsLocals) {
    $('s-local').textContent = `none (${client.welcome?.algorithm ?? 'this algorithm'} keeps no local variables)`;
    return;
  }
  try {
    const bytes = await client.localState();
    $('s-local').textContent = bytes ? `${bytes.length} bytes in IndexedDB` : 'none yet';
  } catch (e) {
    $('s-local').textContent = `could not read them: ${e.message}`;
  }
}

/** Keeps the event for the automation hook; a run of progress events is kept as its latest. */
function record(type, detail) {
  const entry = { type, at: new Date().toISOString(), ...plain(detail) };
  const last = ui.events[ui.events.length - 1];
  if (type === 'progress' && last?.type === 'progress') ui.events[ui.events.length - 1] = entry;
  else ui.events.push(entry);
}

function plain(detail) {
  if (!detail) return {};
  const out = {};
  for (const [k, v] of Object.entries(detail)) {
    if (k === 'error') out.error = { code: v?.code, reason: v?.reason, message: v?.message ?? String(v) };
    else if (k === 'modelSpec') out.model = describeSpec(v).name;
    else if (typeof v !== 'function' && typeof v !== 'bigint') out[k] = v;
    else if (typeof v === 'bigint') out[k] = v.toString();
  }
  return out;
}

// ---- display ----

const STATES = {
  idle: 'not joined',
  loading: 'reading your data…',
  connecting: 'connecting…',
  waiting: 'joined: waiting to be selected for a round',
  training: 'training on your examples',
  reporting: 'update sent: waiting for the coordinator',
  done: 'done: the coordinator finished every round',
  left: 'left',
  refused: 'left: the data does not fit the model',
  error: 'refused by the coordinator',
  closed: 'left',
};

function setState(state) {
  ui.state = state === 'closed' ? 'left' : state;
  $('s-state').textContent = STATES[ui.state] ?? ui.state;
  document.body.dataset.state = ui.state;
}

function setJoined(joined) {
  $('join-button').disabled = joined;
  $('leave-button').disabled = !joined;
  $('data-fields').disabled = joined;
  form.elements.url.readOnly = joined;
  form.elements.token.readOnly = joined;
  form.elements.backend.disabled = joined;
  if (!joined && document.activeElement === $('leave-button')) $('join-button').focus();
}

function log(type, text, kind = '') {
  const li = document.createElement('li');
  if (kind) li.className = kind;
  const time = document.createElement('time');
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = now.toLocaleTimeString([], { hour12: false });
  const tag = document.createElement('span');
  tag.className = 'tag';
  tag.textContent = type;
  li.append(time, ' ', tag, ' ', text);
  const list = $('log');
  list.append(li);
  while (list.children.length > MAX_LOG) list.firstElementChild.remove();
  li.scrollIntoView?.({ block: 'nearest' });
}

function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
}

function hideError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

// ---- start ----

if (params.coordinator) form.elements.url.value = params.coordinator;
if (params.token) form.elements.token.value = params.token;
if (['auto', 'webgpu', 'cpu'].includes(params.backend)) form.elements.backend.value = params.backend;
showKind();
if (params.autojoin) join();
