// Where a client keeps what never leaves it: its local variables (FedRecon's
// reconstructed user vector, as FWCS bytes), by key. A storage is any
// object with `get(key) -> Promise<Uint8Array | undefined>` and
// `set(key, bytes) -> Promise<void>`:
//   indexedDbStorage(name)   browsers (IndexedDB database `name`)
//   directoryStorage(dir)    Node.js (storage-node.js: one file per key, written atomically)
//   memoryStorage()          this page or process only
import { FedwasmError } from '../errors.js';

/** Keys are file-name safe: letters, digits, `-`, `_`, `.`. */
function checkKey(key) {
  if (typeof key !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(key) || key.startsWith('.')) {
    throw new FedwasmError('invalid_argument', `a storage key must be 1-200 of [A-Za-z0-9._-], got ${JSON.stringify(key)}`);
  }
  return key;
}

export { checkKey };

export function memoryStorage() {
  const map = new Map();
  return {
    kind: 'memory',
    async get(key) {
      const v = map.get(checkKey(key));
      return v === undefined ? undefined : v.slice();
    },
    async set(key, bytes) {
      map.set(checkKey(key), bytes.slice());
    },
  };
}

/** IndexedDB (browsers): one object store `blobs` in database `name`. */
export function indexedDbStorage(name = 'fedwasm') {
  if (typeof indexedDB === 'undefined') {
    throw new FedwasmError('unsupported', 'indexedDbStorage: this environment has no IndexedDB (in Node.js use a directory)');
  }
  let db = null;
  const openDb = () => {
    db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore('blobs');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(new FedwasmError('io', `IndexedDB ${name}: ${req.error?.message}`));
    });
    return db;
  };
  const run = async (mode, fn) => {
    const d = await openDb();
    return new Promise((resolve, reject) => {
      const tx = d.transaction('blobs', mode);
      const req = fn(tx.objectStore('blobs'));
      let value;
      req.onsuccess = () => {
        value = req.result;
      };
      tx.oncomplete = () => resolve(value);
      tx.onerror = () => reject(new FedwasmError('io', `IndexedDB ${name}: ${tx.error?.message}`));
      tx.onabort = () => reject(new FedwasmError('io', `IndexedDB ${name}: aborted (${tx.error?.message})`));
    });
  };
  return {
    kind: 'indexeddb',
    async get(key) {
      const v = await run('readonly', (s) => s.get(checkKey(key)));
      return v === undefined ? undefined : new Uint8Array(v);
    },
    async set(key, bytes) {
      await run('readwrite', (s) => s.put(bytes.slice().buffer, checkKey(key)));
    },
  };
}

/** A storage from `connect`'s `storage` option. */
export function toStorage(option, platform) {
  if (option === undefined) return platform.kind === 'browser' ? indexedDbStorage() : memoryStorage();
  if (option === false || option === null) return null;
  if (typeof option === 'string') return platform.kind === 'browser' ? indexedDbStorage(option) : platform.directoryStorage(option);
  if (typeof option?.get === 'function' && typeof option?.set === 'function') return option;
  throw new FedwasmError('invalid_argument', 'connect: storage must be a directory (Node.js), an IndexedDB name (browsers), false, or { get, set }');
}
