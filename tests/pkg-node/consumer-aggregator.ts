// The strict TypeScript consumer of 'fedwasm/aggregator' (type-checked by
// tests/pkg-node/run.sh with consumer.ts; never run).
import { loadAggregator, ServerRound, type Aggregator } from 'fedwasm/aggregator';

export async function aggregate(spec: string, weights: Uint8Array, updates: Uint8Array[]): Promise<Uint8Array> {
  const agg: Aggregator = await loadAggregator();
  const round: ServerRound = new agg.ServerRound(spec, agg.initialState(spec, weights));
  const id: bigint = round.roundId;
  const task: Uint8Array = round.task(id + 1n, '');
  const plain: Uint8Array = round.task(2n);
  for (const u of updates) round.check(u, 10.5);
  for (const u of updates) round.accept(u, 10.5);
  if (task.length + plain.length > 0) round.accept(updates[0] ?? new Uint8Array(), undefined);
  const n: number = round.accepted;
  agg.setLimits('{}');
  const v: string = agg.version();
  const { state, metrics }: { state: Uint8Array; metrics: string } = round.finish();
  round.free();
  return n > 0 && v.length > 0 && metrics.length > 0 ? state : new Uint8Array();
}
