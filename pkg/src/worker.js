// A pool's Web Worker (module worker). See worker-core.js.
import { setPlatform } from './platform.js';
import { browserPlatform } from './platform-browser.js';
import { serve } from './worker-core.js';

setPlatform(browserPlatform);
serve({
  post: (message, transfer) => self.postMessage(message, transfer ?? []),
  listen: (fn) => self.addEventListener('message', (ev) => fn(ev.data)),
});
