// FedwasmError: every error the package throws on purpose. `code` is the
// engine's stable code (`shape`, `bad_data`, `limit`, `dataset`,
// `invalid_argument`, `cancelled`, `diverged`, `refused`, `device_lost`,
// ...) or one of the glue's own (`not_ready`, `worker_lost`, `unsupported`).

export class FedwasmError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{ reason?: string, cause?: unknown }} [options]
   */
  constructor(code, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FedwasmError';
    this.code = code;
    if (options.reason !== undefined) this.reason = options.reason;
  }
}

/** The FedwasmError for anything thrown by the engine or a worker. */
export function toFedwasmError(e) {
  if (e instanceof FedwasmError) return e;
  if (e && typeof e === 'object' && e.name === 'FedwasmError' && typeof e.code === 'string') {
    return new FedwasmError(e.code, e.message, { reason: e.reason });
  }
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
    return new FedwasmError('internal', `the wasm engine trapped (a bug; please report it): ${e.message}`, { cause: e });
  }
  return e;
}

/** Runs `fn`, turning engine errors into FedwasmErrors. */
export function guard(fn) {
  try {
    return fn();
  } catch (e) {
    throw toFedwasmError(e);
  }
}

/** Awaits `promise`, turning engine errors into FedwasmErrors. */
export async function guardAsync(promise) {
  try {
    return await promise;
  } catch (e) {
    throw toFedwasmError(e);
  }
}

/** An `invalid_argument` error in the engine's words. */
export function invalid(op, detail) {
  return new FedwasmError('invalid_argument', `invalid argument to ${op}: ${detail}`);
}

/** Throws unless every key of `options` is in `allowed` (unknown option names are errors). */
export function checkOptions(op, options, allowed) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalid(op, `options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw invalid(op, `unknown option ${JSON.stringify(key)} (known: ${allowed.join(', ') || 'none'})`);
    }
  }
  return options;
}

/** A short description of a value, for messages. */
export function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${v.length}`;
  if (typeof v === 'object') return `a ${v.constructor?.name ?? 'object'}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** A whole number >= `min`, or throws naming `op` and `what`. */
export function wholeNumber(op, what, v, min = 0) {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw invalid(op, `${what} must be a whole number >= ${min}, got ${describe(v)}`);
  }
  return v;
}

/** A finite number, or throws naming `op` and `what`. */
export function finiteNumber(op, what, v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw invalid(op, `${what} must be a finite number, got ${describe(v)}`);
  }
  return v;
}
