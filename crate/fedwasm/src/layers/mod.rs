//! Layers: forward passes with hand-written backward passes, run on any [`Backend`].
//!
//! A layer is configuration only ([`LayerKind`], serialisable). Its variables
//! live in the model; a layer receives them as `params`, in the order of
//! [`Layer::params`]. Every tensor has a leading batch dimension; the shapes
//! a layer reports in [`Layer::output_shape`] are per example (without it).
//!
//! Every backward pass is checked against central differences in `f64`
//! (`crate/tests/gradients.rs`).

mod activation;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod init;
mod shape;

pub use activation::Activation;
pub use init::Initializer;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Padding};
use crate::error::{Error, Result};
use crate::gradient::Gradient;
use crate::tensor::Tensor;

/// A variable a layer owns: its short name (`"kernel"`), shape and initializer.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Short name, unique within the layer (`kernel`, `bias`, `embeddings`).
    pub name: &'static str,
    /// Shape of the variable.
    pub shape: Vec<usize>,
    /// How to initialise it.
    pub init: Initializer,
}

/// Whether a forward pass is for training (dropout active) and which random
/// stream dropout draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Training (dropout on) or inference.
    pub training: bool,
    /// Seed of the dropout masks.
    pub seed: u64,
    /// Counter of the batch within training, mixed into the dropout stream.
    pub step: u32,
}

impl Mode {
    /// Inference: dropout is the identity.
    pub fn inference() -> Self {
        Mode {
            training: false,
            seed: 0,
            step: 0,
        }
    }

    /// Training with dropout masks drawn from `seed` at batch `step`.
    pub fn training(seed: u64, step: u32) -> Self {
        Mode {
            training: true,
            seed,
            step,
        }
    }
}

/// The result of a forward pass: the output and anything backward needs
/// besides the inputs and output (a dropout mask).
pub struct Forward {
    /// Layer output, `[batch, ..output_shape]`.
    pub output: Tensor,
    /// Saved state for the backward pass.
    pub saved: Option<Tensor>,
}

impl Forward {
    fn plain(output: Tensor) -> Self {
        Forward {
            output,
            saved: None,
        }
    }
}

/// Gradients from a backward pass.
pub struct Backward {
    /// d(loss)/d(input) for each input, `None` where not requested.
    pub inputs: Vec<Option<Tensor>>,
    /// d(loss)/d(param) for each param, in [`Layer::params`] order: dense, or
    /// the touched rows of an embedding table ([`Gradient::Rows`]).
    pub params: Vec<Gradient>,
}

/// Which gradients a backward pass should compute.
#[derive(Clone, Copy, Debug)]
pub struct Want<'a> {
    /// Per input: compute d(loss)/d(input)?
    pub inputs: &'a [bool],
    /// Compute the parameter gradients? (`Backward::params` is empty otherwise.)
    pub params: bool,
}

/// What every layer implements. `node` is the layer's index in its model,
/// used to give each dropout layer its own random stream.
pub trait Layer {
    /// The variables this layer owns, given its per-example input shapes.
    fn params(&self, inputs: &[Vec<usize>]) -> Result<Vec<ParamSpec>>;
    /// Per-example output shape for per-example input shapes.
    fn output_shape(&self, inputs: &[Vec<usize>]) -> Result<Vec<usize>>;
    /// Number of inputs the layer takes.
    fn arity(&self) -> usize {
        1
    }
    /// Forward pass.
    fn forward(
        &self,
        b: &dyn Backend,
        params: &[&Tensor],
        inputs: &[&Tensor],
        mode: Mode,
        node: u32,
    ) -> Result<Forward>;
    /// Backward pass given `dy = d(loss)/d(output)`; `want` says which
    /// gradients to compute.
    fn backward(
        &self,
        b: &dyn Backend,
        params: &[&Tensor],
        inputs: &[&Tensor],
        fwd: &Forward,
        dy: &Tensor,
        want: Want<'_>,
    ) -> Result<Backward>;
}

fn default_true() -> bool {
    true
}

/// Declarative layer configuration, as it appears in a model description.
/// Externally tagged: `"relu"` or `{"dense": {"units": 10}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerKind {
    /// `y = activation(x W + b)` on the last axis; kernel `[in, units]`, bias `[units]`.
    Dense {
        /// Output width.
        units: usize,
        /// Activation applied after the affine map.
        #[serde(default)]
        activation: Activation,
        /// Kernel initializer (Keras default `glorot_uniform`).
        #[serde(default = "Initializer::glorot")]
        kernel_initializer: Initializer,
        /// Bias initializer (Keras default `zeros`).
        #[serde(default = "Initializer::zeros")]
        bias_initializer: Initializer,
        /// Whether the layer has a bias.
        #[serde(default = "default_true")]
        use_bias: bool,
    },
    /// `max(x, 0)`.
    Relu,
    /// Softmax over the last axis.
    Softmax,
    /// 2-D convolution, stride 1, NHWC; kernel `[k, k, in, filters]`, bias `[filters]`.
    Conv2d {
        /// Output channels.
        filters: usize,
        /// Square kernel size (3 or 5).
        kernel_size: usize,
        /// `valid` (default) or `same`.
        #[serde(default = "default_padding")]
        padding: Padding,
        /// Activation applied after the convolution.
        #[serde(default)]
        activation: Activation,
        /// Kernel initializer (Keras default `glorot_uniform`).
        #[serde(default = "Initializer::glorot")]
        kernel_initializer: Initializer,
        /// Bias initializer (Keras default `zeros`).
        #[serde(default = "Initializer::zeros")]
        bias_initializer: Initializer,
    },
    /// 2x2 max pooling, stride 2.
    MaxPool2d,
    /// `[batch, ..]` to `[batch, product]`.
    Flatten,
    /// `[batch, ..]` to `[batch, ..shape]` (same size).
    Reshape {
        /// Per-example target shape.
        shape: Vec<usize>,
    },
    /// Inverted dropout: zero with probability `rate`, scale the rest by `1/(1-rate)`;
    /// the identity in inference.
    Dropout {
        /// Drop probability in `[0, 1)`.
        rate: f32,
    },
    /// Lookup of whole-number ids `[batch, ..]` in a `[input_dim, output_dim]`
    /// table: `[batch, .., output_dim]`.
    Embedding {
        /// Number of ids.
        input_dim: usize,
        /// Embedding width.
        output_dim: usize,
        /// Table initializer (Keras default `uniform`).
        #[serde(default = "Initializer::uniform")]
        embeddings_initializer: Initializer,
    },
    /// A per-client vector `[1, units]` that ignores its input and is
    /// broadcast over the batch (seed 003's `UserEmbedding`).
    UserEmbedding {
        /// Width of the vector.
        units: usize,
        /// Initializer (seed 003 uses `uniform`).
        #[serde(default = "Initializer::uniform")]
        initializer: Initializer,
    },
    /// Row-wise dot product of two `[batch, k]` inputs: `[batch, 1]`.
    Dot,
}

/// The logits version of a layer whose output is a softmax, if it is one:
/// a dense or convolution layer with a softmax activation gives the same layer
/// with a linear activation; a `softmax` layer gives the identity.
pub(crate) fn logits_layer(
    kind: &LayerKind,
    model: &str,
    node: &str,
) -> Result<Option<Box<dyn Layer>>> {
    let linear = match kind {
        LayerKind::Softmax => {
            return Ok(Some(Box::new(activation::ActivationLayer(
                Activation::Linear,
            ))))
        }
        LayerKind::Dense {
            activation: Activation::Softmax,
            ..
        }
        | LayerKind::Conv2d {
            activation: Activation::Softmax,
            ..
        } => {
            let mut k = kind.clone();
            if let LayerKind::Dense { activation, .. } | LayerKind::Conv2d { activation, .. } =
                &mut k
            {
                *activation = Activation::Linear;
            }
            k
        }
        _ => return Ok(None),
    };
    linear.build(model, node).map(Some)
}

fn default_padding() -> Padding {
    Padding::Valid
}

impl LayerKind {
    /// The layer implementing this configuration.
    ///
    /// # Errors
    /// [`Error::Model`] for invalid settings (a kernel size other than 3 or 5,
    /// a dropout rate outside `[0, 1)`, zero units).
    pub fn build(&self, model: &str, node: &str) -> Result<Box<dyn Layer>> {
        let bad = |detail: String| Error::Model {
            model: model.to_string(),
            detail: format!("layer {node:?}: {detail}"),
        };
        Ok(match self {
            LayerKind::Dense {
                units,
                activation,
                kernel_initializer,
                bias_initializer,
                use_bias,
            } => {
                if *units == 0 {
                    return Err(bad("dense units must be positive".into()));
                }
                Box::new(dense::Dense {
                    units: *units,
                    activation: *activation,
                    kernel_init: kernel_initializer.clone(),
                    bias_init: use_bias.then(|| bias_initializer.clone()),
                })
            }
            LayerKind::Relu => Box::new(activation::ActivationLayer(Activation::Relu)),
            LayerKind::Softmax => Box::new(activation::ActivationLayer(Activation::Softmax)),
            LayerKind::Conv2d {
                filters,
                kernel_size,
                padding,
                activation,
                kernel_initializer,
                bias_initializer,
            } => {
                if ![3, 5].contains(kernel_size) {
                    return Err(bad(format!(
                        "kernel_size {kernel_size} unsupported; use 3 or 5"
                    )));
                }
                if *filters == 0 {
                    return Err(bad("conv2d filters must be positive".into()));
                }
                Box::new(conv::Conv2d {
                    filters: *filters,
                    kernel: *kernel_size,
                    padding: *padding,
                    activation: *activation,
                    kernel_init: kernel_initializer.clone(),
                    bias_init: bias_initializer.clone(),
                })
            }
            LayerKind::MaxPool2d => Box::new(conv::MaxPool2d),
            LayerKind::Flatten => Box::new(shape::Reshape { target: None }),
            LayerKind::Reshape { shape } => Box::new(shape::Reshape {
                target: Some(shape.clone()),
            }),
            LayerKind::Dropout { rate } => {
                if !(0.0..1.0).contains(rate) {
                    return Err(bad(format!("dropout rate {rate} is not in [0, 1)")));
                }
                Box::new(dropout::Dropout { rate: *rate })
            }
            LayerKind::Embedding {
                input_dim,
                output_dim,
                embeddings_initializer,
            } => Box::new(embedding::Embedding {
                input_dim: *input_dim,
                output_dim: *output_dim,
                init: embeddings_initializer.clone(),
            }),
            LayerKind::UserEmbedding { units, initializer } => Box::new(embedding::UserEmbedding {
                units: *units,
                init: initializer.clone(),
            }),
            LayerKind::Dot => Box::new(embedding::Dot),
        })
    }
}

/// Checks a layer got exactly `n` inputs.
fn expect_inputs(op: &'static str, inputs: &[Vec<usize>], n: usize) -> Result<()> {
    if inputs.len() != n {
        return Err(Error::shape(
            op,
            format!("{n} input(s)"),
            format!("{} input(s)", inputs.len()),
        ));
    }
    Ok(())
}

/// `t` reshaped to `[rows, last]` keeping the last axis.
fn as_matrix(t: &Tensor) -> Result<Tensor> {
    let last = *t.shape().last().unwrap_or(&1);
    let rows = t.len().checked_div(last).unwrap_or(0);
    t.clone().reshape(&[rows, last])
}
