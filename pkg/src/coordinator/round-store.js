// Where a round's state and partial sums live while the round is open: one
// interface, so that a store shared by several coordinators (Redis, say)
// can replace the in-memory one without touching the round logic.
//
//   const r = store.begin(specJson, stateBytes)  -> a round handle
//   r.roundId                                    -> bigint (the engine's)
//   r.task(clientKey, planJson)                  -> FWTK bytes
//   r.accept(fwupBytes, maxNorm)                 -> throws FedwasmError (refused, reason) and changes nothing
//   r.accepted                                   -> number of accepted updates
//   r.finish()                                   -> { state: FWCK bytes, metrics: object }
//   r.abandon()                                  -> drops the partial sums
//
// The in-memory store keeps one aggregator ServerRound: exact fixed-point
// sums, so memory is proportional to the model, never to the clients, and
// the result does not depend on the order reports arrive in.
import { guard } from '../errors.js';

export class MemoryRoundStore {
  #aggregator;

  /** @param {{ ServerRound: Function }} aggregator the aggregator module (loadAggregator()) */
  constructor(aggregator) {
    this.#aggregator = aggregator;
  }

  begin(specJson, state) {
    const round = guard(() => new this.#aggregator.ServerRound(specJson, state));
    let open = true;
    const live = () => {
      if (!open) throw new Error('the round is closed');
      return round;
    };
    const close = () => {
      open = false;
      round.free();
    };
    return {
      get roundId() {
        return BigInt(live().roundId);
      },
      get accepted() {
        return live().accepted;
      },
      task: (clientKey, planJson) => guard(() => live().task(BigInt(clientKey), planJson)),
      accept: (update, maxNorm) => guard(() => live().accept(update, maxNorm ?? undefined)),
      finish() {
        const out = guard(() => live().finish());
        close();
        return { state: out.state, metrics: JSON.parse(out.metrics) };
      },
      abandon() {
        if (open) close();
      },
    };
  }
}
