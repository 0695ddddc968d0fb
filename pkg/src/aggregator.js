// TEMPORARY (replaced by the aggregator-pkg branch): the aggregator's wasm from target/pkg-aggregator.
import { createRequire } from 'node:module';
let cached = null;
export async function loadAggregator() {
  cached ??= createRequire(import.meta.url)(new URL('../../target/pkg-aggregator/fedwasm_aggregator.js', import.meta.url).pathname);
  return cached;
}
