// Does a tab's data fit the model a coordinator announced? The welcome
// carries the model as the engine's ModelSpec JSON (pkg/PROTOCOL.md); the
// data's ClientData knows its element spec. A mismatch found here is told to
// the person in plain words before any round, instead of as an engine error
// in the middle of one. Pure functions: no DOM, no engine.

/** What the page shows of a model spec: `{ name, inputs, label, classes?, items? }`. */
export function describeSpec(specText) {
  const spec = typeof specText === 'string' ? JSON.parse(specText) : specText;
  const inputs = (spec.input_shape ?? []).reduce((a, b) => a * b, 1);
  const classes = spec.label?.class?.num_classes;
  const items = firstEmbedding(spec)?.input_dim;
  return {
    name: spec.name ?? 'model',
    inputShape: spec.input_shape ?? [],
    inputs,
    label: classes === undefined ? 'real' : 'class',
    ...(classes === undefined ? {} : { classes }),
    ...(items === undefined ? {} : { items }),
  };
}

/** One line for the page: `softmax_regression: 784 inputs -> 10 classes`. */
export function modelLine(model) {
  const out = model.label === 'class' ? `${model.classes} classes` : 'a real value';
  const input = model.items !== undefined ? `an item id (${model.items} items)` : `${model.inputs} input${model.inputs === 1 ? '' : 's'} (shape ${model.inputShape.join('x')})`;
  return `${model.name}: ${input} -> ${out}`;
}

/** The side length of square images the model takes (784 -> 28), or null. */
export function imageSide(model) {
  if (model.label !== 'class' || model.items !== undefined) return null;
  const side = Math.round(Math.sqrt(model.inputs));
  return side * side === model.inputs ? side : null;
}

/**
 * Why `data` (one client's view: `{ kind, xShape, label, maxLabel?, maxItem?, itemsInteger? }`)
 * cannot train `model`, or null when it fits.
 *   kind: 'images' | 'ratings' | 'pack'
 *   label: 'real' | { classes }
 *   maxLabel: the largest class id in the client's examples
 *   maxItem / itemsInteger: the largest item id, and whether every id is a whole number >= 0
 */
export function fitProblem(model, data) {
  const inputs = data.xShape.reduce((a, b) => a * b, 1);
  const what = data.kind === 'ratings' ? 'ratings' : 'images';
  if (model.label === 'class' && data.label === 'real') {
    return `The coordinator trains ${model.name}, a classifier of ${model.classes} classes; your ${what} have real-valued labels (ratings). Pick digit images instead.`;
  }
  if (model.label === 'real' && data.label !== 'real') {
    return `The coordinator trains ${model.name}, which predicts a real value (a rating) from an item id; your ${what} are class-labelled images. Pick a ratings file instead.`;
  }
  if (inputs !== model.inputs) {
    const side = imageSide(model);
    const hint = side ? ` (images of ${side}x${side} pixels)` : '';
    return `The coordinator's model ${model.name} takes ${model.inputs} input values per example${hint}; your ${what} have ${inputs}.`;
  }
  if (model.label === 'class' && data.maxLabel !== undefined && data.maxLabel >= model.classes) {
    return `The coordinator's model ${model.name} knows classes 0 to ${model.classes - 1}; your data has label ${data.maxLabel}.`;
  }
  if (model.items !== undefined && data.maxItem !== undefined) {
    if (!data.itemsInteger) return 'Item ids must be whole numbers from 0 (the coordinator\'s item indices).';
    if (data.maxItem >= model.items) {
      return `The coordinator's model ${model.name} has ${model.items} items (ids 0 to ${model.items - 1}); your ratings name item ${data.maxItem}.`;
    }
  }
  return null;
}

function firstEmbedding(spec) {
  for (const l of spec.layers ?? []) {
    const e = l.layer?.embedding;
    if (e && (l.inputs === undefined || l.inputs.includes('input'))) return e;
  }
  return undefined;
}
