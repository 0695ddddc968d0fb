// fedwasm for browsers and bundlers (Vite, webpack, esbuild) or a plain
// <script type="module">. Node.js gets `node.js` through the package's
// `exports` conditions.
import { setPlatform } from './platform.js';
import { browserPlatform } from './platform-browser.js';

setPlatform(browserPlatform);

export * from './api.js';
