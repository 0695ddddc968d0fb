// ClientData and Dataset: federated data parsed in wasm, and tf.data-style
// lazy plans over one client's examples.
import { engine, ready } from './engine.js';
import { FedwasmError, checkOptions, describe, guard, invalid, wholeNumber } from './errors.js';

/** Bytes and a name for one LEAF/MovieLens/CSV source. */
async function readSource(op, source, index) {
  const fallback = `source ${index}`;
  if (typeof source === 'string') return { name: fallback, bytes: new TextEncoder().encode(source) };
  if (source instanceof Uint8Array) return { name: fallback, bytes: source };
  if (source instanceof ArrayBuffer) return { name: fallback, bytes: new Uint8Array(source) };
  if (ArrayBuffer.isView(source)) {
    return { name: fallback, bytes: new Uint8Array(source.buffer, source.byteOffset, source.byteLength) };
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    return { name: source.name || fallback, bytes: new Uint8Array(await source.arrayBuffer()) };
  }
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new FedwasmError('io', `${op}: ${source.url || fallback} answered HTTP ${source.status}`);
    return { name: source.url || fallback, bytes: new Uint8Array(await source.arrayBuffer()) };
  }
  if (source !== null && typeof source === 'object') {
    return { name: fallback, bytes: new TextEncoder().encode(JSON.stringify(source)) };
  }
  throw invalid(op, `${fallback} is ${describe(source)}; expected a string, bytes, a parsed object, a Blob/File or a Response`);
}

async function readText(op, source) {
  const { name, bytes } = await readSource(op, source, 0);
  return { name, text: new TextDecoder().decode(bytes) };
}

/** Federated data: each client id has its own examples. */
export class ClientData {
  #handle;
  #ids;

  /** @internal Use the static constructors. */
  constructor(handle, token) {
    if (token !== INTERNAL) throw new TypeError('use ClientData.fromLeaf, fromMovieLens, fromCsv, fromArrays, fromImages or femnistDigits');
    this.#handle = handle;
    this.#ids = guard(() => handle.clientIds());
  }

  /**
   * LEAF JSON (FEMNIST, ...): one source or several.
   * @param {unknown | unknown[]} sources
   * @param {{ digitsOnly?: boolean, maxClients?: number, inkIsOne?: boolean }} [options]
   */
  static async fromLeaf(sources, options = {}) {
    const op = 'ClientData.fromLeaf';
    checkOptions(op, options, ['digitsOnly', 'maxClients', 'inkIsOne']);
    await ready();
    const list = Array.isArray(sources) ? sources : [sources];
    if (list.length === 0) throw invalid(op, 'no sources');
    const read = await Promise.all(list.map((s, i) => readSource(op, s, i)));
    const opts = {
      digits_only: bool(op, 'digitsOnly', options.digitsOnly ?? false),
      max_clients: options.maxClients === undefined ? null : wholeNumber(op, 'maxClients', options.maxClients, 1),
      ink_is_one: bool(op, 'inkIsOne', options.inkIsOne ?? false),
    };
    const handle = guard(() =>
      engine().ClientDataHandle.fromLeaf(read.map((r) => r.name), read.map((r) => r.bytes), JSON.stringify(opts)),
    );
    return new ClientData(handle, INTERNAL);
  }

  /**
   * MovieLens ratings (`u.data`, tab-separated, or `ratings.dat` with `::`):
   * one client per user, `x = [item]` (dense ids), `y = rating`.
   * @param {unknown} text
   * @param {{ maxExamplesPerUser?: number }} [options]
   */
  static async fromMovieLens(text, options = {}) {
    const op = 'ClientData.fromMovieLens';
    checkOptions(op, options, ['maxExamplesPerUser']);
    await ready();
    const { name, text: t } = await readText(op, text);
    const opts = {
      max_examples_per_user:
        options.maxExamplesPerUser === undefined ? null : wholeNumber(op, 'maxExamplesPerUser', options.maxExamplesPerUser, 1),
    };
    return new ClientData(guard(() => engine().ClientDataHandle.fromMovieLens(name, t, JSON.stringify(opts))), INTERNAL);
  }

  /**
   * CSV: one row per example. `label` names the label column (header name
   * or 0-based index), `client` the client id column (else one client,
   * `"0"`), `features` the feature columns (else every other column).
   * `classes` makes the labels class ids in `0..classes` (else real values).
   * @param {unknown} text
   * @param {{ label: string | number, client?: string | number, features?: (string | number)[], classes?: number, header?: boolean, delimiter?: string }} options
   */
  static async fromCsv(text, options) {
    const op = 'ClientData.fromCsv';
    checkOptions(op, options, ['label', 'client', 'features', 'classes', 'header', 'delimiter']);
    if (options?.label === undefined) throw invalid(op, 'options.label (the label column) is required');
    await ready();
    const { name, text: t } = await readText(op, text);
    const column = (what, c) => {
      if (typeof c === 'string' || (typeof c === 'number' && Number.isSafeInteger(c) && c >= 0)) return c;
      throw invalid(op, `${what} must be a column name or a 0-based index, got ${describe(c)}`);
    };
    const delimiter = options.delimiter ?? ',';
    if (typeof delimiter !== 'string' || [...delimiter].length !== 1) throw invalid(op, `delimiter must be one character, got ${describe(delimiter)}`);
    const opts = {
      has_header: bool(op, 'header', options.header ?? true),
      label_column: column('label', options.label),
      client_column: options.client === undefined ? null : column('client', options.client),
      feature_columns: options.features === undefined ? null : arrayOf(op, 'features', options.features).map((c) => column('a feature column', c)),
      label: options.classes === undefined ? 'real' : { class: { num_classes: wholeNumber(op, 'classes', options.classes, 1) } },
      delimiter,
    };
    return new ClientData(guard(() => engine().ClientDataHandle.fromCsv(name, t, JSON.stringify(opts))), INTERNAL);
  }

  /**
   * Typed arrays: `{ [clientId]: { x: Float32Array, y: Int32Array | Float32Array } }`,
   * `x` holding `examples * prod(shape)` values row-major. Int32 labels are
   * class ids (`classes` defaults to the largest + 1); Float32 labels are real
   * values unless `classes` is given.
   * @param {Record<string, { x: Float32Array, y: Int32Array | Float32Array }>} clients
   * @param {{ shape: number[], classes?: number }} options
   */
  static async fromArrays(clients, options) {
    const op = 'ClientData.fromArrays';
    checkOptions(op, options, ['shape', 'classes']);
    if (clients === null || typeof clients !== 'object') throw invalid(op, `clients must be an object of { x, y } by client id, got ${describe(clients)}`);
    const shape = arrayOf(op, 'shape', options?.shape).map((d) => wholeNumber(op, 'a shape dimension', d, 1));
    await ready();
    const ids = Object.keys(clients);
    const xs = [];
    const ys = [];
    let intLabels = false;
    let maxLabel = -1;
    for (const id of ids) {
      const c = clients[id];
      checkOptions(`${op} (client ${JSON.stringify(id)})`, c, ['x', 'y']);
      if (!(c.x instanceof Float32Array)) throw invalid(op, `client ${JSON.stringify(id)}: x must be a Float32Array, got ${describe(c.x)}`);
      if (!(c.y instanceof Int32Array || c.y instanceof Float32Array)) {
        throw invalid(op, `client ${JSON.stringify(id)}: y must be an Int32Array or a Float32Array, got ${describe(c.y)}`);
      }
      if (c.y instanceof Int32Array) {
        intLabels = true;
        for (const v of c.y) if (v > maxLabel) maxLabel = v;
      }
      xs.push(c.x);
      ys.push(c.y);
    }
    const classes = options.classes ?? (intLabels ? Math.max(1, maxLabel + 1) : undefined);
    const label = classes === undefined ? 'real' : { class: { num_classes: wholeNumber(op, 'classes', classes, 1) } };
    return new ClientData(guard(() => engine().ClientDataHandle.fromArrays(ids, xs, ys, shape, JSON.stringify(label))), INTERNAL);
  }

  /**
   * Images (browsers: `File`s, `Blob`s or URLs), decoded, converted to
   * grayscale with ink 1 and background 0 (as MNIST), resized to
   * `size x size`. `labelFrom(file, index)` gives each image's class id (or
   * `'name'`: the first digit of the file name); `clientFrom(file, index)`
   * its client id (default: one client, `"local"`).
   * @param {Iterable<Blob | string | URL>} files
   * @param {{ size?: number, classes?: number, labelFrom?: 'name' | ((file: Blob | string | URL, index: number) => number), clientFrom?: (file: Blob | string | URL, index: number) => string, invert?: boolean }} [options]
   */
  static async fromImages(files, options = {}) {
    const op = 'ClientData.fromImages';
    checkOptions(op, options, ['size', 'classes', 'labelFrom', 'clientFrom', 'invert']);
    if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas !== 'function') {
      throw new FedwasmError('unsupported', `${op} needs createImageBitmap and OffscreenCanvas (a browser or a worker)`);
    }
    const size = wholeNumber(op, 'size', options.size ?? 28, 1);
    const classes = wholeNumber(op, 'classes', options.classes ?? 10, 1);
    const labelFrom = options.labelFrom ?? 'name';
    const labelOf = labelFrom === 'name' ? labelFromName : labelFrom;
    if (typeof labelOf !== 'function') throw invalid(op, "labelFrom must be 'name' or a function");
    const clientOf = options.clientFrom ?? (() => 'local');
    const invert = bool(op, 'invert', options.invert ?? true);
    const canvas = new OffscreenCanvas(size, size);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const byClient = {};
    let i = 0;
    for (const file of files) {
      const blob = file instanceof Blob ? file : await (await fetch(file)).blob();
      let bitmap;
      try {
        bitmap = await createImageBitmap(blob);
      } catch (e) {
        throw new FedwasmError('bad_data', `${op}: image ${i} (${blob.name ?? file}) could not be decoded: ${e.message}`);
      }
      ctx.fillStyle = 'white';
      ctx.fillRect(0, 0, size, size);
      ctx.drawImage(bitmap, 0, 0, size, size);
      bitmap.close?.();
      const rgba = ctx.getImageData(0, 0, size, size).data;
      const x = new Float32Array(size * size);
      for (let p = 0; p < x.length; p++) {
        const gray = (0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]) / 255;
        x[p] = invert ? 1 - gray : gray;
      }
      const label = labelOf(file, i);
      if (!Number.isSafeInteger(label) || label < 0 || label >= classes) {
        throw new FedwasmError('bad_data', `${op}: image ${i} (${blob.name ?? file}) has label ${describe(label)}; expected a class id in 0..${classes}`);
      }
      const id = String(clientOf(file, i));
      (byClient[id] ??= { xs: [], ys: [] });
      byClient[id].xs.push(x);
      byClient[id].ys.push(label);
      i++;
    }
    if (i === 0) throw invalid(op, 'no images');
    const clients = {};
    for (const [id, { xs, ys }] of Object.entries(byClient)) {
      const x = new Float32Array(xs.length * size * size);
      xs.forEach((img, k) => x.set(img, k * size * size));
      clients[id] = { x, y: Int32Array.from(ys) };
    }
    return ClientData.fromArrays(clients, { shape: [size * size], classes });
  }

  /**
   * The FEMNIST digits embedded in the engine: 10 LEAF writers (28x28
   * images flattened to 784 values, ink 1), `split` `'train'` or `'test'`.
   * @param {{ split?: 'train' | 'test' }} [options]
   */
  static async femnistDigits(options = {}) {
    checkOptions('ClientData.femnistDigits', options, ['split']);
    await ready();
    return new ClientData(guard(() => engine().ClientDataHandle.femnistDigits(options.split ?? 'train')), INTERNAL);
  }

  /**
   * A FEMNIST pack (the engine's compact `FWFEMDIG` format, as the demo's
   * `www/data/` ships), `split` `'train'` or `'test'`.
   * @param {Source} source
   * @param {{ split?: 'train' | 'test' }} [options]
   */
  static async fromFemnistPack(source, options = {}) {
    const op = 'ClientData.fromFemnistPack';
    checkOptions(op, options, ['split']);
    await ready();
    const { bytes } = await readSource(op, source, 0);
    return new ClientData(guard(() => engine().ClientDataHandle.fromFemnistPack(bytes, options.split ?? 'train')), INTERNAL);
  }

  /**
   * Seeded synthetic ratings for matrix factorisation (one client per user).
   * @param {{ users?: number, items?: number, rank?: number, ratingsPerUser?: number, noise?: number, seed?: number }} [options]
   */
  static async syntheticRatings(options = {}) {
    const op = 'ClientData.syntheticRatings';
    checkOptions(op, options, ['users', 'items', 'rank', 'ratingsPerUser', 'noise', 'seed']);
    await ready();
    const opts = {
      num_users: wholeNumber(op, 'users', options.users ?? 20, 1),
      num_items: wholeNumber(op, 'items', options.items ?? 50, 1),
      rank: wholeNumber(op, 'rank', options.rank ?? 4, 1),
      ratings_per_user: wholeNumber(op, 'ratingsPerUser', options.ratingsPerUser ?? 20, 1),
      noise_std: options.noise ?? 0.1,
      seed: wholeNumber(op, 'seed', options.seed ?? 0),
    };
    return new ClientData(guard(() => engine().ClientDataHandle.syntheticRatings(JSON.stringify(opts))), INTERNAL);
  }

  /** The client ids, sorted. */
  get clientIds() {
    return [...this.#ids];
  }

  /** `{ xShape, label: { classes } | 'real' }` of one example. */
  get elementSpec() {
    const s = guard(() => this.#handle.elementSpec());
    return { xShape: s.x_shape, label: s.label === 'real' ? 'real' : { classes: s.label.class.num_classes } };
  }

  /** Items of a ratings data set (the `matrixFactorization` model's `items`); `undefined` otherwise. */
  get numItems() {
    return this.#handle.numItems;
  }

  /** Examples of client `id`. */
  numExamples(id) {
    return guard(() => this.#handle.numExamples(clientId('ClientData.numExamples', id)));
  }

  /** Examples per class of client `id` (index = class id). */
  labelCounts(id) {
    return Array.from(guard(() => this.#handle.labelCounts(clientId('ClientData.labelCounts', id))));
  }

  /** `count` examples of client `id` from `start`: `{ x: Float32Array, y: Float32Array }`. */
  examples(id, { start = 0, count = 1 } = {}) {
    const op = 'ClientData.examples';
    return guard(() => this.#handle.slice(clientId(op, id), wholeNumber(op, 'start', start), wholeNumber(op, 'count', count)));
  }

  /** Client `id`'s examples as a Dataset (a lazy plan: nothing is copied until a round runs it). */
  createDataset(id) {
    const op = 'ClientData.createDataset';
    if (!this.#ids.includes(clientId(op, id))) {
      throw new FedwasmError('dataset', `${op}: unknown client id ${JSON.stringify(id)} (${this.#ids.length} clients)`);
    }
    return new Dataset(this, id, [], INTERNAL);
  }

  /** @internal The FWEX bytes of client `id`. */
  clientBytes(id) {
    return guard(() => this.#handle.clientBytes(id));
  }

  /** Frees the examples now (otherwise the garbage collector does). */
  free() {
    this.#handle.free();
  }
}

/**
 * One client's examples and a plan over them, as tf.data writes it:
 * `data.createDataset(id).repeat(5).shuffle(100, { seed: 1 }).batch(20)`.
 * Each method returns a new Dataset; the plan runs where the client runs.
 */
export class Dataset {
  #data;
  #id;
  #ops;

  /** @internal Use `ClientData.createDataset`. */
  constructor(data, id, ops, token) {
    if (token !== INTERNAL) throw new TypeError('use clientData.createDataset(id)');
    this.#data = data;
    this.#id = id;
    this.#ops = ops;
  }

  /** The client this dataset is of. */
  get clientId() {
    return this.#id;
  }

  /** The plan, as the engine's DatasetPlan JSON object. */
  get plan() {
    return { ops: this.#ops.map((o) => ({ ...o })) };
  }

  #with(op) {
    return new Dataset(this.#data, this.#id, [...this.#ops, op], INTERNAL);
  }

  /** The data `count` times over. */
  repeat(count) {
    return this.#with({ op: 'repeat', count: wholeNumber('Dataset.repeat', 'count', count, 1) });
  }

  /** A shuffle buffer of `buffer` examples, seeded (default seed 0: the same order every time, as TFF with a fixed seed). */
  shuffle(buffer, options = {}) {
    checkOptions('Dataset.shuffle', options, ['seed']);
    return this.#with({
      op: 'shuffle',
      buffer: wholeNumber('Dataset.shuffle', 'buffer', buffer, 1),
      seed: wholeNumber('Dataset.shuffle', 'seed', options.seed ?? 0),
    });
  }

  /** Batches of `size` (the last one smaller unless `dropRemainder`). */
  batch(size, options = {}) {
    checkOptions('Dataset.batch', options, ['dropRemainder']);
    return this.#with({
      op: 'batch',
      size: wholeNumber('Dataset.batch', 'size', size, 1),
      drop_remainder: bool('Dataset.batch', 'dropRemainder', options.dropRemainder ?? false),
    });
  }

  /** The first `count` elements. */
  take(count) {
    return this.#with({ op: 'take', count: wholeNumber('Dataset.take', 'count', count) });
  }

  /** All but the first `count` elements. */
  skip(count) {
    return this.#with({ op: 'skip', count: wholeNumber('Dataset.skip', 'count', count) });
  }

  /** @internal The FWEX bytes of the client's examples. */
  clientBytes() {
    return this.#data.clientBytes(this.#id);
  }
}

const INTERNAL = Symbol('fedwasm internal');

function bool(op, what, v) {
  if (typeof v !== 'boolean') throw invalid(op, `${what} must be true or false, got ${describe(v)}`);
  return v;
}

function arrayOf(op, what, v) {
  if (!Array.isArray(v)) throw invalid(op, `${what} must be an array, got ${describe(v)}`);
  return v;
}

function clientId(op, id) {
  if (typeof id !== 'string') throw invalid(op, `a client id must be a string, got ${describe(id)}`);
  return id;
}

function labelFromName(file) {
  const name = file instanceof Blob ? (file.name ?? '') : String(file).split('/').pop();
  const m = /\d/.exec(name);
  return m ? Number(m[0]) : NaN;
}
