// Types of 'fedwasm/aggregator' (pkg/src/aggregator.js): the server side of
// a round for Node.js. Every error thrown is a FedwasmError (see errors in
// index.d.ts): `refused` with a `reason`, `bad_data`, `limit`,
// `invalid_argument`, .., and `io` when the wasm does not load.

/** One round in progress: tasks out, updates in, the next state back. */
export declare class ServerRound {
  /** Starts a round of the process `specJson` (JSON) from the FWCK checkpoint `state`. */
  constructor(specJson: string, state: Uint8Array);
  /** The round's id (the state's round index). */
  readonly roundId: bigint;
  /** Updates accepted so far. */
  readonly accepted: number;
  /** The FWTK task of client `clientKey`, batching by the dataset plan `planJson` ('' for none). */
  task(clientKey: bigint, planJson?: string): Uint8Array;
  /**
   * Accepts one FWUP update; throws (`code: 'refused'`, with a `reason`)
   * and changes nothing when it does not fit the round. With `maxNorm`, an
   * update whose L2 norm (over all its tensors, in f64) is over it is
   * refused with reason `norm`.
   */
  accept(update: Uint8Array, maxNorm?: number): void;
  /** Every check of `accept` without adding the update: throws what `accept` would; changes nothing. */
  check(update: Uint8Array, maxNorm?: number): void;
  /** Ends the round: the next state (FWCK) and the round's metrics (JSON, TFF's nesting). */
  finish(): { state: Uint8Array; metrics: string };
  /** Frees the round's wasm memory now (else at garbage collection); unusable after. */
  free(): void;
}

/** What `loadAggregator` resolves to. */
export interface Aggregator {
  ServerRound: typeof ServerRound;
  /** The FWCK state before the first round of `specJson`, from FWWT initial weights. */
  initialState(specJson: string, weights: Uint8Array): Uint8Array;
  /** Sets the process-wide limits (JSON: fields of the protocol's `Limits`; missing ones keep defaults). */
  setLimits(limitsJson: string): void;
  /** The aggregator's version. */
  version(): string;
}

/** Loads the aggregator's wasm from the package's files (idempotent, cached; never fetches). */
export declare function loadAggregator(): Promise<Aggregator>;
