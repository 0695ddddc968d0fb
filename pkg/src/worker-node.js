// A pool's Node.js worker_thread. See worker-core.js.
import { parentPort } from 'node:worker_threads';
import { setPlatform } from './platform.js';
import { nodePlatform } from './platform-node.js';
import { serve } from './worker-core.js';

setPlatform(nodePlatform);
serve({
  post: (message, transfer) => parentPort.postMessage(message, transfer ?? []),
  listen: (fn) => parentPort.on('message', fn),
});
