// sampleClients: TFF-style uniform sampling without replacement, seeded by
// (seed, round), the same draw as the CLI's `simulate`.
import { engine } from './engine.js';
import { checkOptions, describe, guard, invalid, wholeNumber } from './errors.js';

/**
 * `n` distinct ids of `ids`, drawn from `(seed, round)`.
 * @param {string[]} ids
 * @param {number} n
 * @param {{ seed?: number, round?: number }} [options]
 */
export function sampleClients(ids, n, options = {}) {
  const op = 'sampleClients';
  checkOptions(op, options, ['seed', 'round']);
  if (!Array.isArray(ids)) throw invalid(op, `ids must be an array, got ${describe(ids)}`);
  wholeNumber(op, 'n', n);
  const seed = wholeNumber(op, 'seed', options.seed ?? 0);
  const round = wholeNumber(op, 'round', options.round ?? 0);
  const picked = guard(() => engine().sampleClientIndices(ids.length, n, seed, round));
  return Array.from(picked, (i) => ids[i]);
}
