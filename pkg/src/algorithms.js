// The builders of tff.learning.algorithms, in JS style. Each takes
// `{ model, backend = 'auto', pool = null, yieldEvery = 8, ...its options }`
// and returns a LearningProcess; unknown option names are errors.
import { buildProcess } from './process.js';

const AVG = ['clientOptimizer', 'serverOptimizer', 'clientWeighting', 'seed'];

export const algorithms = {
  /** FedAvg weighted by examples (TFF's default): client SGD 0.01, server SGD 1.0. */
  buildWeightedFedAvg(options) {
    return buildProcess('weighted_fed_avg', options, AVG);
  },

  /** FedAvg with every client weighted 1. */
  buildUnweightedFedAvg(options) {
    return buildProcess('unweighted_fed_avg', options, ['clientOptimizer', 'serverOptimizer', 'seed']);
  },

  /** FedProx: FedAvg plus `proximalStrength * (w - w_global)` in each client's gradient. */
  buildFedProx(options) {
    return buildProcess('fed_prox', options, [...AVG, 'proximalStrength']);
  },

  /** Federated evaluation of the global model (no training). */
  buildFedEval(options) {
    return buildProcess('fed_eval', options, []);
  },

  /**
   * Federated Reconstruction: each client reconstructs its local variables
   * (which never leave it), then trains the global ones.
   * `split: { reconEpochs, reconStepsMax, postReconEpochs, postReconStepsMax, splitDataset }`.
   */
  buildFedRecon(options) {
    return buildProcess('fed_recon', options, [
      'clientOptimizer',
      'serverOptimizer',
      'reconstructionOptimizer',
      'clientWeighting',
      'split',
      'seed',
    ]);
  },

  /** Federated Reconstruction evaluation: reconstruct, then evaluate. */
  buildFedReconEval(options) {
    return buildProcess('fed_recon_eval', options, ['reconstructionOptimizer', 'split', 'seed']);
  },

  /**
   * FedAvg with stateful clients (seed 003): `next(state, datasets,
   * clientStates)` also returns the clients' new states, which the caller keeps.
   */
  buildStatefulFedAvg(options) {
    return buildProcess('stateful_fed_avg', options, [
      'clientOptimizer',
      'serverOptimizer',
      'localOptimizer',
      'clientWeighting',
      'seed',
    ]);
  },
};
