//! [`GraphModel`]: a [`Model`] built from a [`ModelSpec`].
//!
//! Nodes run in description order; each node's output is kept for the
//! backward pass, which walks the nodes in reverse, sums gradients flowing
//! into nodes with several consumers, and skips every node that no requested
//! variable depends on.

use std::collections::BTreeMap;

use super::api::{BatchOutput, DeviceBatch, Model, VariableGroup, VariableInfo};
use super::partition::{assign, Candidate};
use super::spec::{LossSpec, ModelSpec, INPUT};
use crate::backend::{Backend, LossOutput};
use crate::data::{ElementSpec, LabelSpec};
use crate::error::{Error, Result};
use crate::gradient::Gradient;
use crate::layers::{logits_layer, Forward, Initializer, Layer, Mode, Want};
use crate::metrics::MetricKind;
use crate::rng::Rng;
use crate::tensor::{checked_numel, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Input,
    Node(usize),
}

struct Node {
    layer: Box<dyn Layer>,
    inputs: Vec<Source>,
    /// Indices into the model's variables, in the layer's param order.
    params: Vec<usize>,
}

/// Calls `f` with `items` as a slice, built on the stack when there are at
/// most four (layers take one or two inputs and parameters), so running a
/// node allocates nothing for its operand lists.
fn with_slice<T: Copy, R>(mut items: impl Iterator<Item = T>, f: impl FnOnce(&[T]) -> R) -> R {
    const INLINE: usize = 4;
    let Some(first) = items.next() else {
        return f(&[]);
    };
    let mut buf = [first; INLINE];
    let mut n = 1;
    while n < INLINE {
        match items.next() {
            Some(x) => {
                buf[n] = x;
                n += 1;
            }
            None => return f(&buf[..n]),
        }
    }
    match items.next() {
        None => f(&buf),
        Some(x) => {
            let mut all = buf.to_vec();
            all.push(x);
            all.extend(items);
            f(&all)
        }
    }
}

/// A model assembled from a declarative description.
pub struct GraphModel {
    spec: ModelSpec,
    element_spec: ElementSpec,
    nodes: Vec<Node>,
    output: usize,
    variables: Vec<VariableInfo>,
    inits: Vec<Initializer>,
    values: Vec<Tensor>,
    /// The output node computes logits in place of a softmax, and the loss is
    /// the fused softmax cross-entropy (see [`GraphModel::new`]).
    fused_softmax: bool,
}

impl GraphModel {
    /// Builds the model and initialises its variables on `b` from `seed`
    /// (variable `i` draws from `Rng::derive(seed, i)`).
    ///
    /// Like Keras, when the loss is cross-entropy on probabilities and the
    /// output node ends in a softmax, the loss is computed from the logits
    /// (fused softmax cross-entropy): the value is the same, but gradients
    /// stay informative when a prediction saturates, where the clipped
    /// probability loss would give none. Predictions are still probabilities.
    ///
    /// # Errors
    /// [`Error::Limit`] when a shape (the input, a node's output, a
    /// variable) overflows or exceeds `max_tensor_elements`, or the
    /// variables together exceed `max_model_parameters` (checked before
    /// anything is allocated);
    /// [`Error::Model`] for unknown or later-defined inputs, duplicate names,
    /// wrong arity or incompatible shapes; [`Error::Partition`] for a bad partition.
    pub fn new(spec: ModelSpec, b: &dyn Backend, seed: u64) -> Result<Self> {
        let model = spec.name.clone();
        let bad = |detail: String| Error::Model {
            model: model.clone(),
            detail,
        };
        if spec.layers.is_empty() {
            return Err(bad("a model needs at least one layer".into()));
        }
        // Every shape is checked before anything is allocated: the input,
        // each node's per-example output, each variable, and the variables
        // together against the parameter limit.
        const OP: &str = "GraphModel::new";
        let limits = crate::limits::Limits::current();
        checked_numel(OP, &spec.input_shape).map_err(|e| e.in_context("input_shape"))?;
        let mut parameters = 0u64;
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut shapes: Vec<Vec<usize>> = Vec::new();
        let mut nodes = Vec::new();
        let mut variables = Vec::new();
        let mut inits = Vec::new();
        let mut candidates = Vec::new();
        for (i, ns) in spec.layers.iter().enumerate() {
            if ns.name == INPUT || ns.name.contains('/') || ns.name.is_empty() {
                return Err(bad(format!(
                    "node name {:?} is reserved or contains '/'",
                    ns.name
                )));
            }
            if index.contains_key(ns.name.as_str()) {
                return Err(bad(format!("two nodes are named {:?}", ns.name)));
            }
            let inputs: Vec<Source> = match &ns.inputs {
                None if i == 0 => vec![Source::Input],
                None => vec![Source::Node(i - 1)],
                Some(names) => names
                    .iter()
                    .map(|n| match (n.as_str(), index.get(n.as_str())) {
                        (INPUT, _) => Ok(Source::Input),
                        (_, Some(&j)) => Ok(Source::Node(j)),
                        (_, None) => Err(bad(format!(
                            "node {:?} takes {n:?}, which is not an earlier node or \"input\"",
                            ns.name
                        ))),
                    })
                    .collect::<Result<_>>()?,
            };
            let layer = ns.layer.build(&spec.name, &ns.name)?;
            if inputs.len() != layer.arity() {
                return Err(bad(format!(
                    "node {:?} takes {} input(s), got {}",
                    ns.name,
                    layer.arity(),
                    inputs.len()
                )));
            }
            let in_shapes: Vec<Vec<usize>> = inputs
                .iter()
                .map(|s| match s {
                    Source::Input => spec.input_shape.clone(),
                    Source::Node(j) => shapes[*j].clone(),
                })
                .collect();
            let out = layer
                .output_shape(&in_shapes)
                .map_err(|e| bad(format!("node {:?}: {e}", ns.name)))?;
            let at = |e: Error| e.in_context(format_args!("node {:?}", ns.name));
            checked_numel(OP, &out).map_err(at)?;
            let mut params = Vec::new();
            for p in layer.params(&in_shapes)? {
                let n = checked_numel(OP, &p.shape)
                    .map_err(|e| e.in_context(format_args!("variable {}/{}", ns.name, p.name)))?;
                parameters += n as u64;
                limits
                    .check(
                        OP,
                        crate::limits::LimitField::ModelParameters,
                        &format!(
                            "parameters of model {} (through node {:?})",
                            spec.name, ns.name
                        ),
                        parameters,
                    )
                    .map_err(at)?;
                params.push(variables.len());
                variables.push(VariableInfo {
                    name: format!("{}/{}", ns.name, p.name),
                    shape: p.shape,
                    group: VariableGroup::GlobalTrainable,
                });
                inits.push(p.init);
            }
            index.insert(&ns.name, i);
            shapes.push(out);
            nodes.push(Node {
                layer,
                inputs,
                params,
            });
        }
        for (ni, node) in nodes.iter().enumerate() {
            for &v in &node.params {
                candidates.push((v, ni));
            }
        }
        let cands: Vec<Candidate<'_>> = candidates
            .iter()
            .map(|&(v, ni)| Candidate {
                name: &variables[v].name,
                layer: &spec.layers[ni].name,
                trainable: spec.layers[ni].trainable,
            })
            .collect();
        let layer_names: Vec<&str> = spec.layers.iter().map(|l| l.name.as_str()).collect();
        let groups = assign(&spec.name, spec.partition.as_ref(), &layer_names, &cands)?;
        for (&(v, _), g) in candidates.iter().zip(groups) {
            variables[v].group = g;
        }
        let output = match &spec.output {
            None => nodes.len() - 1,
            Some(o) => *index
                .get(o.as_str())
                .ok_or_else(|| bad(format!("output node {o:?} does not exist")))?,
        };
        Self::check_output(&spec, &shapes[output]).map_err(bad)?;
        let mut fused_softmax = false;
        if spec.loss == (LossSpec::SparseCategoricalCrossentropy { from_logits: false }) {
            let out_spec = &spec.layers[output];
            if let Some(logits) = logits_layer(&out_spec.layer, &spec.name, &out_spec.name)? {
                nodes[output].layer = logits;
                fused_softmax = true;
            }
        }
        let values = (0..variables.len())
            .map(|i| {
                b.upload(
                    &variables[i].shape,
                    &inits[i].sample(&variables[i].shape, &mut Rng::derive(seed, i as u64)),
                )
            })
            .collect::<Result<_>>()?;
        Ok(GraphModel {
            element_spec: spec.element_spec(),
            spec,
            nodes,
            output,
            variables,
            inits,
            values,
            fused_softmax,
        })
    }

    /// Parses and builds a JSON description.
    ///
    /// # Errors
    /// As [`ModelSpec::from_json`] and [`GraphModel::new`].
    pub fn from_json(json: &str, b: &dyn Backend, seed: u64) -> Result<Self> {
        Self::new(ModelSpec::from_json(json)?, b, seed)
    }

    /// The description this model was built from.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn check_output(spec: &ModelSpec, out: &[usize]) -> std::result::Result<(), String> {
        match (&spec.loss, &spec.label) {
            (LossSpec::SparseCategoricalCrossentropy { .. }, LabelSpec::Class { num_classes }) => {
                if out != [*num_classes] {
                    return Err(format!(
                        "the output node gives {out:?} per example; cross-entropy over {num_classes} classes needs [{num_classes}]"
                    ));
                }
            }
            (LossSpec::MeanSquaredError, LabelSpec::Real) => {
                if out.iter().product::<usize>() != 1 {
                    return Err(format!("the output node gives {out:?} per example; mean squared error needs one value"));
                }
            }
            (loss, label) => return Err(format!("loss {loss:?} does not fit labels {label:?}")),
        }
        Ok(())
    }

    fn params_of<'a>(&'a self, node: &'a Node) -> impl Iterator<Item = &'a Tensor> + 'a {
        node.params.iter().map(|&v| &self.values[v])
    }

    fn run(&self, b: &dyn Backend, x: &Tensor, mode: Mode) -> Result<Vec<Forward>> {
        let mut outs: Vec<Forward> = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            let inputs = node.inputs.iter().map(|s| match s {
                Source::Input => x,
                Source::Node(j) => &outs[*j].output,
            });
            let f = with_slice(inputs, |inputs| {
                with_slice(self.params_of(node), |params| {
                    node.layer.forward(b, params, inputs, mode, i as u32)
                })
            })?;
            outs.push(f);
        }
        Ok(outs)
    }

    fn loss(&self, b: &dyn Backend, out: &Tensor, y: &Tensor) -> Result<LossOutput> {
        if self.fused_softmax {
            return b.softmax_cross_entropy(out, y);
        }
        match self.spec.loss {
            LossSpec::SparseCategoricalCrossentropy { from_logits: false } => {
                b.sparse_cross_entropy(out, y)
            }
            LossSpec::SparseCategoricalCrossentropy { from_logits: true } => {
                b.softmax_cross_entropy(out, y)
            }
            LossSpec::MeanSquaredError => b.mean_squared_error(out, y),
        }
    }

    /// What the model reports as predictions: probabilities when the output
    /// node was turned into logits.
    fn predictions(&self, b: &dyn Backend, out: Tensor) -> Result<Tensor> {
        if self.fused_softmax {
            b.softmax(&out)
        } else {
            Ok(out)
        }
    }

    fn check_x(&self, x: &Tensor) -> Result<()> {
        if x.shape().get(1..) != Some(self.spec.input_shape.as_slice()) {
            return Err(Error::shape(
                "GraphModel::forward",
                format!(
                    "x of shape [batch, {:?}] for model {}",
                    self.spec.input_shape, self.spec.name
                ),
                x.shape(),
            ));
        }
        Ok(())
    }
}

impl Model for GraphModel {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn input_spec(&self) -> &ElementSpec {
        &self.element_spec
    }

    fn variables(&self) -> &[VariableInfo] {
        &self.variables
    }

    fn values(&self) -> &[Tensor] {
        &self.values
    }

    fn values_mut(&mut self) -> &mut [Tensor] {
        &mut self.values
    }

    fn metrics(&self) -> &[MetricKind] {
        &self.spec.metrics
    }

    fn forward(&self, b: &dyn Backend, batch: &DeviceBatch, mode: Mode) -> Result<BatchOutput> {
        self.check_x(&batch.x)?;
        let mut outs = self.run(b, &batch.x, mode)?;
        let out = outs.swap_remove(self.output).output;
        let loss = self.loss(b, &out, &batch.y)?.loss;
        let predictions = self.predictions(b, out)?;
        Ok(BatchOutput {
            loss,
            predictions,
            num_examples: batch.size(),
        })
    }

    fn forward_backward(
        &self,
        b: &dyn Backend,
        batch: &DeviceBatch,
        mode: Mode,
        wrt: &[bool],
    ) -> Result<(BatchOutput, Vec<Option<Tensor>>)> {
        let (out, grads) = self.forward_backward_sparse(b, batch, mode, wrt)?;
        let dense = grads
            .into_iter()
            .map(|g| g.map(|g| g.into_dense(b)).transpose())
            .collect::<Result<_>>()?;
        Ok((out, dense))
    }

    fn forward_backward_sparse(
        &self,
        b: &dyn Backend,
        batch: &DeviceBatch,
        mode: Mode,
        wrt: &[bool],
    ) -> Result<(BatchOutput, Vec<Option<Gradient>>)> {
        self.check_x(&batch.x)?;
        if wrt.len() != self.variables.len() {
            return Err(Error::shape(
                "forward_backward",
                self.variables.len(),
                wrt.len(),
            ));
        }
        let outs = self.run(b, &batch.x, mode)?;
        let LossOutput { loss, grad } = self.loss(b, &outs[self.output].output, &batch.y)?;
        // A node needs a backward pass if it, or anything feeding it, owns a requested variable.
        let mut requires = vec![false; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            requires[i] = node.params.iter().any(|&v| wrt[v])
                || node
                    .inputs
                    .iter()
                    .any(|s| matches!(s, Source::Node(j) if requires[*j]));
        }
        let mut grads: Vec<Option<Tensor>> = (0..self.nodes.len()).map(|_| None).collect();
        grads[self.output] = Some(grad);
        let mut var_grads: Vec<Option<Gradient>> =
            (0..self.variables.len()).map(|_| None).collect();
        for i in (0..self.nodes.len()).rev() {
            let node = &self.nodes[i];
            let Some(dy) = grads[i].take() else { continue };
            if !requires[i] {
                continue;
            }
            let inputs = node.inputs.iter().map(|s| match s {
                Source::Input => &batch.x,
                Source::Node(j) => &outs[*j].output,
            });
            let need = node
                .inputs
                .iter()
                .map(|s| matches!(s, Source::Node(j) if requires[*j]));
            let need_params = node.params.iter().any(|&v| wrt[v]);
            let bw = with_slice(inputs, |inputs| {
                with_slice(self.params_of(node), |params| {
                    with_slice(need, |need| {
                        node.layer.backward(
                            b,
                            params,
                            inputs,
                            &outs[i],
                            &dy,
                            Want {
                                inputs: need,
                                params: need_params,
                            },
                        )
                    })
                })
            })?;
            for (s, g) in node.inputs.iter().zip(bw.inputs) {
                if let (Source::Node(j), Some(g)) = (s, g) {
                    grads[*j] = Some(match grads[*j].take() {
                        None => g,
                        Some(acc) => b.add(&acc, &g)?,
                    });
                }
            }
            for (&v, g) in node.params.iter().zip(bw.params) {
                if wrt[v] {
                    var_grads[v] = Some(g);
                }
            }
        }
        let out = outs
            .into_iter()
            .nth(self.output)
            .expect("output index is valid")
            .output;
        let predictions = self.predictions(b, out)?;
        Ok((
            BatchOutput {
                loss,
                predictions,
                num_examples: batch.size(),
            },
            var_grads,
        ))
    }

    fn reinitialize(&mut self, b: &dyn Backend, groups: &[VariableGroup], seed: u64) -> Result<()> {
        for (i, v) in self.variables.iter().enumerate() {
            if groups.contains(&v.group) {
                let data = self.inits[i].sample(&v.shape, &mut Rng::derive(seed, i as u64));
                self.values[i] = b.upload(&v.shape, &data)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::with_slice;

    #[test]
    fn with_slice_passes_every_item_in_order() {
        for n in 0..10 {
            let want: Vec<usize> = (0..n).collect();
            assert_eq!(with_slice(0..n, |s| s.to_vec()), want);
        }
    }
}
