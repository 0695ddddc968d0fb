#!/usr/bin/env node
// `npx fedwasm serve --task task.json [--host H] [--port P] [--state-dir DIR]
//   [--tls-cert F --tls-key F] [--exit-when-done]`: a round coordinator.
// `npx fedwasm tokens [N]`: N new client tokens, one per line (for a tokensFile).
import { parseArgs } from 'node:util';
import { serve, newToken } from '../src/coordinator/index.js';

const USAGE = `usage:
  fedwasm serve --task task.json [--host 127.0.0.1] [--port 8787] [--state-dir fedwasm-state]
                [--tls-cert cert.pem --tls-key key.pem] [--exit-when-done]
  fedwasm tokens [N]          N new client tokens (default 1), one per line
The task file's fields are documented in the package's PROTOCOL.md ("Task file").`;

function fail(message) {
  process.stderr.write(`fedwasm: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'tokens') {
  const n = rest.length ? Number(rest[0]) : 1;
  if (!Number.isSafeInteger(n) || n < 1) fail(`tokens: N must be a whole number >= 1, got ${rest[0]}`);
  for (let i = 0; i < n; i++) process.stdout.write(`${newToken()}\n`);
} else if (command === 'serve') {
  let args;
  try {
    args = parseArgs({
      args: rest,
      options: {
        task: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8787' },
        'state-dir': { type: 'string', default: 'fedwasm-state' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'exit-when-done': { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    fail(e.message);
  }
  if (!args.task) fail('serve: --task is required');
  const port = Number(args.port);
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) fail(`serve: --port must be 0-65535, got ${args.port}`);
  let server;
  try {
    server = await serve({
      task: args.task,
      host: args.host,
      port,
      stateDir: args['state-dir'],
      tlsCert: args['tls-cert'],
      tlsKey: args['tls-key'],
    });
  } catch (e) {
    process.stderr.write(`fedwasm serve: ${e.message}\n`);
    process.exit(1);
  }
  console.log(`${new Date().toISOString()} listening on ${server.url} (status: ${server.statusUrl}; state: ${args['state-dir']})`);
  const stop = async (signal) => {
    console.log(`${new Date().toISOString()} ${signal}: stopping (completed rounds are in the checkpoint)`);
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const outcome = await server.done;
  if (outcome.error) {
    process.stderr.write(`fedwasm serve: failed after ${outcome.round} rounds: ${outcome.error.message}\n`);
    await server.close();
    process.exit(1);
  }
  if (args['exit-when-done']) {
    await server.close();
    process.exit(0);
  }
} else if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(`${USAGE}\n`);
} else {
  fail(`unknown command ${command}`);
}
