// Optimizers, with TFF's `tff.learning.optimizers.build_*` defaults. Each
// returns a plain config the engine has validated.
import { engine } from './engine.js';
import { checkOptions, guard, invalid, describe } from './errors.js';

/** An optimizer configuration (the engine's OptimizerConfig). */
export class Optimizer {
  #config;

  /** @internal Use `optimizers.*`. */
  constructor(config, token) {
    if (token !== INTERNAL) throw new TypeError('use optimizers.sgd, adam, adagrad, yogi or rmsprop');
    this.#config = config;
  }

  /** The update rule (`sgd`, `adam`, ...). */
  get name() {
    return this.#config.rule.type;
  }

  /** The config as the engine's JSON object. */
  toJSON() {
    return structuredClone(this.#config);
  }
}

const INTERNAL = Symbol('fedwasm optimizer');

/** A learning rate: a positive finite number or a schedule object. */
function learningRate(op, v) {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw invalid(op, `learningRate must be a finite number >= 0, got ${describe(v)}`);
    return v;
  }
  if (v !== null && typeof v === 'object') {
    checkOptions(`${op} learningRate`, v, ['exponentialDecay', 'inverseTimeDecay']);
    const [kind] = Object.keys(v);
    const s = v[kind];
    checkOptions(`${op} learningRate.${kind}`, s, ['initial', 'decayRate', 'decayRounds', 'staircase']);
    for (const k of ['initial', 'decayRate', 'decayRounds']) {
      if (typeof s?.[k] !== 'number' || !Number.isFinite(s[k])) throw invalid(op, `learningRate.${kind}.${k} must be a finite number, got ${describe(s?.[k])}`);
    }
    const tag = kind === 'exponentialDecay' ? 'exponential_decay' : 'inverse_time_decay';
    return { type: tag, initial: s.initial, decay_rate: s.decayRate, decay_rounds: s.decayRounds, staircase: s.staircase ?? false };
  }
  throw invalid(op, `learningRate must be a number or a schedule, got ${describe(v)}`);
}

function param(op, name, v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(op, `${name} must be a finite number, got ${describe(v)}`);
  return v;
}

function make(op, rule, lr) {
  const config = { rule, learning_rate: learningRate(op, lr) };
  return new Optimizer(JSON.parse(guard(() => engine().checkOptimizer(JSON.stringify(config)))), INTERNAL);
}

export const optimizers = {
  /**
   * SGD (`build_sgdm`): learning rate 0.01, optional momentum and Nesterov.
   * @param {{ learningRate?: number | object, momentum?: number, nesterov?: boolean }} [options]
   */
  sgd(options = {}) {
    const op = 'optimizers.sgd';
    checkOptions(op, options, ['learningRate', 'momentum', 'nesterov']);
    const nesterov = options.nesterov ?? false;
    if (typeof nesterov !== 'boolean') throw invalid(op, `nesterov must be true or false, got ${describe(nesterov)}`);
    const rule = { type: 'sgd', momentum: options.momentum === undefined ? null : param(op, 'momentum', options.momentum), nesterov };
    return make(op, rule, options.learningRate ?? 0.01);
  },

  /**
   * Adam (`build_adam`): learning rate 0.001, betas 0.9 / 0.999, epsilon 1e-7.
   * @param {{ learningRate?: number | object, beta1?: number, beta2?: number, epsilon?: number }} [options]
   */
  adam(options = {}) {
    const op = 'optimizers.adam';
    checkOptions(op, options, ['learningRate', 'beta1', 'beta2', 'epsilon']);
    const rule = {
      type: 'adam',
      beta_1: param(op, 'beta1', options.beta1 ?? 0.9),
      beta_2: param(op, 'beta2', options.beta2 ?? 0.999),
      epsilon: param(op, 'epsilon', options.epsilon ?? 1e-7),
    };
    return make(op, rule, options.learningRate ?? 0.001);
  },

  /**
   * Adagrad (`build_adagrad`): learning rate required (as TFF), initial
   * accumulator 0.1, epsilon 1e-7.
   * @param {{ learningRate: number | object, initialAccumulatorValue?: number, epsilon?: number }} options
   */
  adagrad(options) {
    const op = 'optimizers.adagrad';
    checkOptions(op, options, ['learningRate', 'initialAccumulatorValue', 'epsilon']);
    if (options?.learningRate === undefined) throw invalid(op, 'learningRate is required (TFF has no default)');
    const rule = {
      type: 'adagrad',
      initial_accumulator_value: param(op, 'initialAccumulatorValue', options.initialAccumulatorValue ?? 0.1),
      epsilon: param(op, 'epsilon', options.epsilon ?? 1e-7),
    };
    return make(op, rule, options.learningRate);
  },

  /**
   * Yogi (`build_yogi`): learning rate required (as TFF), betas 0.9 / 0.999,
   * epsilon 1e-3, initial preconditioner 1e-6.
   * @param {{ learningRate: number | object, beta1?: number, beta2?: number, epsilon?: number, initialPreconditionerValue?: number }} options
   */
  yogi(options) {
    const op = 'optimizers.yogi';
    checkOptions(op, options, ['learningRate', 'beta1', 'beta2', 'epsilon', 'initialPreconditionerValue']);
    if (options?.learningRate === undefined) throw invalid(op, 'learningRate is required (TFF has no default)');
    const rule = {
      type: 'yogi',
      beta_1: param(op, 'beta1', options.beta1 ?? 0.9),
      beta_2: param(op, 'beta2', options.beta2 ?? 0.999),
      epsilon: param(op, 'epsilon', options.epsilon ?? 1e-3),
      initial_preconditioner_value: param(op, 'initialPreconditionerValue', options.initialPreconditionerValue ?? 1e-6),
    };
    return make(op, rule, options.learningRate);
  },

  /**
   * RMSprop (`build_rmsprop`): learning rate 0.01, decay 0.9, epsilon 1e-7.
   * @param {{ learningRate?: number | object, decay?: number, epsilon?: number }} [options]
   */
  rmsprop(options = {}) {
    const op = 'optimizers.rmsprop';
    checkOptions(op, options, ['learningRate', 'decay', 'epsilon']);
    const rule = {
      type: 'rmsprop',
      decay: param(op, 'decay', options.decay ?? 0.9),
      epsilon: param(op, 'epsilon', options.epsilon ?? 1e-7),
    };
    return make(op, rule, options.learningRate ?? 0.01);
  },
};
