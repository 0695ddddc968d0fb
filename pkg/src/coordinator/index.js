// The round coordinator (Node.js only): `import { serve } from 'fedwasm/coordinator'`.
// The package's Node.js entry sets the platform (wasm from the package directory).
import '../node.js';

export { serve } from './server.js';
export { Coordinator, newToken, CLOSE } from './coordinator.js';
export { parseTask, readTaskFile, TASK_DEFAULTS } from './task-file.js';
export { CheckpointStore, encodeCheckpoint, decodeCheckpoint } from './checkpoint.js';
export { MemoryRoundStore } from './round-store.js';
