// The body of a pool worker (a Web Worker or a Node.js worker_thread):
// one wasm instance, one backend, one client at a time.
//
// Messages in:  {type: 'init', module}            -> {type: 'ready'}
//               {type: 'run', id, modelSpec, task, data, clientState, backend, yieldEvery, yieldGapMs}
//                 -> {type: 'progress', id, progress}* then
//                    {type: 'done', id, update, clientState, backend} or
//                    {type: 'error', id, error: {code, message, reason}, fatal}
//               {type: 'cancel', id}
// Byte payloads travel as transferred ArrayBuffers.
import { ready, engine } from './engine.js';
import { toFedwasmError } from './errors.js';

/** Serves pool messages on `port` ({post(message, transfer), listen(fn)}). */
export function serve(port) {
  const running = new Map(); // id -> AbortController

  async function run(m) {
    const controller = new AbortController();
    running.set(m.id, controller);
    try {
      const result = await engine().runClient(
        m.modelSpec,
        new Uint8Array(m.task),
        new Uint8Array(m.data),
        m.clientState ? new Uint8Array(m.clientState) : undefined,
        {
          backend: m.backend,
          yieldEvery: m.yieldEvery,
          yieldGapMs: m.yieldGapMs,
          signal: controller.signal,
          onProgress: (progress) => port.post({ type: 'progress', id: m.id, progress }),
        },
      );
      const update = result.update.buffer;
      const clientState = result.clientState?.buffer;
      port.post(
        { type: 'done', id: m.id, update, clientState, backend: JSON.parse(result.backend) },
        clientState ? [update, clientState] : [update],
      );
    } catch (raw) {
      const e = toFedwasmError(raw);
      port.post({
        type: 'error',
        id: m.id,
        error: { code: e.code ?? 'internal', message: e.message ?? String(e), reason: e.reason },
        // A trap leaves the instance unusable: the pool replaces this worker.
        fatal: e.code === 'internal' || e.code === undefined,
      });
    } finally {
      running.delete(m.id);
    }
  }

  port.listen((m) => {
    handle(m);
  });

  async function handle(m) {
    switch (m.type) {
      case 'init':
        try {
          await ready({ module: m.module });
          port.post({ type: 'ready' });
        } catch (raw) {
          const e = toFedwasmError(raw);
          port.post({ type: 'init_error', error: { code: e.code ?? 'internal', message: e.message } });
        }
        break;
      case 'run':
        run(m);
        break;
      case 'cancel':
        running.get(m.id)?.abort();
        break;
      default:
        break;
    }
  }
}
