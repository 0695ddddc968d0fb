// TLS: `fedwasm serve --tls-cert --tls-key` with a self-signed certificate
// made here (openssl); clients that trust it train over wss://, GET /status
// answers over https, and a client that does not trust it is refused by TLS.
// Run: node --test tests/coordinator/tls.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { get } from 'node:https';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { femnist, w1Task, tokens, fleet, tempDir, writeTask, serveProcess, until } from './lib.mjs';

const WS = createRequire(new URL('../../pkg/package.json', import.meta.url))('ws');

function httpsJson(url, ca) {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

test('clients train over wss:// with a self-signed certificate made in the test', async () => {
  const dir = await tempDir('fedwasm-tls-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const ca = await readFile(cert);
  const n = 3;
  const tk = tokens(n);
  const task = w1Task({ rounds: 2, clientsPerRound: n, overSelection: 1, minReports: n, tokens: tk });
  const server = await serveProcess(['--task', await writeTask(dir, task), '--state-dir', join(dir, 'state'), '--tls-cert', cert, '--tls-key', key]);
  assert.match(server.url, /^wss:\/\//);
  assert.match(server.statusUrl, /^https:\/\//);
  const { train, ids } = await femnist(n);
  class TrustingWebSocket extends WS {
    constructor(url) {
      super(url, { ca });
    }
  }
  const untrusting = fleet(server.url, { data: train, ids: ids.slice(0, 1), tokenList: tk.slice(0, 1), reconnect: { maxAttempts: 0 } });
  const failed = await untrusting.clients[0].done.then(() => null, (e) => e);
  assert.ok(failed, 'a client that does not trust the certificate cannot connect');
  const f = fleet(server.url, { data: train, ids, tokenList: tk, WebSocket: TrustingWebSocket });
  try {
    await until(async () => (await httpsJson(server.statusUrl, ca)).phase === 'done', { timeoutMs: 60_000, everyMs: 100, what: 'rounds over TLS' });
    const status = await httpsJson(server.statusUrl, ca);
    assert.equal(status.round, 2);
    assert.deepEqual(status.history.map((h) => h.reported), [n, n]);
    assert.ok(f.clients.every((c) => c.reports === 2), 'every client had both reports accepted');
  } finally {
    f.close();
    server.kill('SIGTERM');
    await server.exited;
  }
});
