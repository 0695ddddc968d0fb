// fedwasm for Node.js (>= 20): the wasm is read from the package directory
// and a WorkerPool uses worker_threads.
import { setPlatform } from './platform.js';
import { nodePlatform } from './platform-node.js';

setPlatform(nodePlatform);

export * from './api.js';
export { directoryStorage } from './net/storage-node.js';
