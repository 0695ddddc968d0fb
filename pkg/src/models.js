// Models: each constructor checks its model by building it in the engine
// and returns a Model to pass to a builder (`{ model }`).
import { engine } from './engine.js';
import { checkOptions, guard, invalid } from './errors.js';

/** A model description the engine has checked. */
export class Model {
  #described;

  /** @internal Use `models.*`. */
  constructor(described, token) {
    if (token !== INTERNAL) throw new TypeError('use models.softmaxRegression, cnnDropout, matrixFactorization or fromSpec');
    this.#described = described;
  }

  /** The model's name (`softmax_regression`, `cnn_dropout`, ...). */
  get name() {
    return this.#described.name;
  }

  /** Number of parameters, all variables. */
  get parameters() {
    return this.#described.parameters;
  }

  /** Shape of one example's features. */
  get inputShape() {
    return [...this.#described.inputShape];
  }

  /** The model spec as JSON text (what `models.fromSpec` takes). */
  toJSON() {
    return JSON.parse(this.#described.spec);
  }

  /** @internal */
  get specText() {
    return this.#described.spec;
  }
}

const INTERNAL = Symbol('fedwasm model');

function describeModel(kind, options) {
  return new Model(guard(() => engine().describeModel(kind, options)), INTERNAL);
}

export const models = {
  /**
   * The EMNIST tutorial's model (seed 002): `inputs -> classes`,
   * zero-initialised, softmax; sparse categorical cross-entropy and accuracy.
   * @param {{ inputs?: number, classes?: number }} [options]
   */
  softmaxRegression(options = {}) {
    checkOptions('models.softmaxRegression', options, ['inputs', 'classes']);
    return describeModel('softmaxRegression', options);
  },

  /**
   * TFF's `create_conv_dropout_model`: two 3x3 convolutions, max pooling,
   * dropout, dense 128, dropout, dense `classes`; takes 784 pixels.
   * @param {{ classes?: number }} [options]
   */
  cnnDropout(options = {}) {
    checkOptions('models.cnnDropout', options, ['classes']);
    return describeModel('cnnDropout', options);
  },

  /**
   * Seed 003's matrix factorisation: a global item embedding `[items, dim]`
   * and a local (private) user vector; MSE. Input: one item id.
   * @param {{ items: number, dim: number }} options
   */
  matrixFactorization(options) {
    checkOptions('models.matrixFactorization', options, ['items', 'dim']);
    return describeModel('matrixFactorization', options ?? {});
  },

  /**
   * Any model the engine can describe (a ModelSpec as JSON text or object).
   * @param {string | object} spec
   */
  fromSpec(spec) {
    if (typeof spec === 'object' && spec !== null) spec = JSON.stringify(spec);
    if (typeof spec !== 'string') throw invalid('models.fromSpec', 'the spec must be JSON text or an object');
    return describeModel('spec', spec);
  },
};
