// The strict TypeScript consumer of 'fedwasm/coordinator' and `connect`
// (type-checked by tests/pkg-node/run.sh with consumer.ts; never run).
import { ClientData, connect, directoryStorage, memoryStorage, type FederatedClient, type Welcome } from 'fedwasm';
import { serve, parseTask, newToken, decodeCheckpoint, type TaskFile, type Status, type RoundRecord } from 'fedwasm/coordinator';

export async function federation(data: ClientData, dir: string): Promise<RoundRecord[]> {
  const tokens: string[] = [newToken(), newToken()];
  const task: TaskFile = {
    model: { builtin: 'softmaxRegression' },
    algorithm: 'weightedFedAvg',
    rounds: 2,
    clientsPerRound: 2,
    minReports: 1,
    reportDeadlineSeconds: 30,
    clientOptimizer: { name: 'sgd', learningRate: 0.02 },
    preprocessing: { batchSize: 20 },
    limits: { updateNorm: 100, concurrentUploads: 4 },
    tokens,
  };
  const checked = parseTask(task);
  const selected: number = checked.selectCount;
  const server = await serve({ task, port: 0, stateDir: dir, log: (line: string) => void line });
  const clients: FederatedClient[] = tokens.map((token, i) =>
    connect(server.url, { token, data, clientId: data.clientIds[i] ?? 'x', backend: 'cpu', storage: i === 0 ? memoryStorage() : directoryStorage(dir) }),
  );
  clients[0]?.on('welcome', (w: Welcome) => void w.clientKey);
  clients[0]?.on('report', ({ bytes, backend }) => void (bytes + backend.kind.length));
  clients[0]?.on('error', ({ error }) => void error.code);
  const status: Status = server.coordinator.status();
  const { history } = await server.done;
  const reports: number = (await clients[0]!.done).reports;
  const local: Uint8Array | undefined = await clients[1]!.localState();
  clients.forEach((c) => c.close());
  await server.close();
  const cp = decodeCheckpoint(new Uint8Array(0));
  return selected + reports + status.round + (local?.length ?? 0) + cp.round > 0 ? history : [];
}
