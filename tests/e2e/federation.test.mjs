// The federation end to end: a coordinator (`fedwasm serve`, its own
// process), 20 Node.js clients and 2 headless Chromium tabs on
// www/client.html, each one FEMNIST writer, train W1-style for 5 rounds;
// every client reports every round and the model's test accuracy rises.
// Run: node --test tests/e2e/federation.test.mjs (after bash tests/build-pkg.sh)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer } from '../../www/serve.mjs';
import { decodeCheckpoint } from '../../pkg/src/coordinator/index.js';
import { femnist, fleet, serveProcess, tempDir, testAccuracy, tokens, until, w1Task, writeTask } from '../coordinator/lib.mjs';
import { openClientTabs } from '../coordinator/tabs.mjs';

test('a coordinator, 20 Node.js clients and 2 Chromium tabs train 5 rounds; accuracy rises', async () => {
  const nodeClients = 20;
  const { train, test: testData, ids } = await femnist(nodeClients + 2);
  const tk = tokens(nodeClients + 2);
  const dir = await tempDir('fedwasm-federation-');
  // Every client in every round (the round waits for all 22 to check in).
  const task = w1Task({
    rounds: 5,
    clientsPerRound: nodeClients + 2,
    overSelection: 1,
    minReports: nodeClients,
    reportDeadlineSeconds: 120,
    selectionTimeoutSeconds: 120,
    clientOptimizer: { name: 'adam', learningRate: 0.002 },
    preprocessing: { epochs: 2, batchSize: 10, shuffleBuffer: 100 },
    tokens: tk,
  });
  const coordinator = await serveProcess(['--task', await writeTask(dir, task), '--state-dir', join(dir, 'state')]);
  const www = await startServer({ port: 0 });
  const node = fleet(coordinator.url, { data: train, ids: ids.slice(0, nodeClients), tokenList: tk.slice(0, nodeClients) });
  let tabs;
  try {
    tabs = await openClientTabs({ wwwUrl: www.url, coordinatorUrl: coordinator.url, tokens: tk.slice(nodeClients), writers: ids.slice(nodeClients), backend: 'cpu' });
    await until(async () => (await coordinator.status()).phase === 'done', { timeoutMs: 300_000, everyMs: 250, what: '5 rounds' });
    const cp = decodeCheckpoint(new Uint8Array(await readFile(join(dir, 'state', 'checkpoint.fwco'))));
    assert.equal(cp.round, 5);
    for (const h of cp.history) assert.equal(h.reported, nodeClients + 2, `round ${h.round}: every client reported`);
    for (const [i, s] of (await tabs.states()).entries()) {
      assert.equal(s.reports, 5, `tab ${i} had its 5 reports accepted`);
      assert.deepEqual(s.problems, [], `tab ${i} ran cleanly`);
    }
    assert.ok(node.clients.every((c) => c.reports === 5), 'every Node.js client had its 5 reports accepted');
    const trainAcc = cp.history.map((h) => h.metrics.client_work.train.sparse_categorical_accuracy);
    const initial = await testAccuracy(await initialState(task), testData, testData.clientIds);
    const final = await testAccuracy(cp.state, testData, testData.clientIds);
    console.log(`training accuracy by round: ${trainAcc.map((a) => a.toFixed(3)).join(', ')}; test accuracy ${initial.toFixed(3)} -> ${final.toFixed(3)}`);
    assert.ok(trainAcc[4] > trainAcc[0] + 0.05, `training accuracy rises: ${trainAcc}`);
    assert.ok(final > initial + 0.25, `test accuracy rises: ${initial} -> ${final}`);
  } finally {
    await tabs?.close();
    node.close();
    coordinator.kill('SIGTERM');
    await coordinator.exited;
    await www.close();
  }
});

/** The task's initial state (FWCK bytes), as the coordinator starts from it. */
async function initialState(task) {
  const { parseTask } = await import('../../pkg/src/coordinator/index.js');
  return (await parseTask(task).process.initialize()).toBytes();
}
