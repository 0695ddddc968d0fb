//! Built-in model descriptions from TFF's tutorials.

use super::spec::{LossSpec, ModelSpec, NodeSpec, PartitionSpec, INPUT};
use crate::backend::Padding;
use crate::data::LabelSpec;
use crate::layers::{Activation, Initializer, LayerKind};
use crate::metrics::MetricKind;

fn dense(units: usize, activation: Activation, init: Initializer) -> LayerKind {
    LayerKind::Dense {
        units,
        activation,
        kernel_initializer: init,
        bias_initializer: Initializer::Zeros,
        use_bias: true,
    }
}

/// The EMNIST tutorial's model (seed 002): `784 -> 10`, zero-initialised,
/// softmax, sparse categorical cross-entropy and accuracy. 7,850 parameters.
pub fn softmax_regression() -> ModelSpec {
    softmax_regression_for(784, 10)
}

/// [`softmax_regression`] for `inputs` features and `classes` classes:
/// `inputs -> classes`, zero-initialised, softmax.
pub fn softmax_regression_for(inputs: usize, classes: usize) -> ModelSpec {
    ModelSpec {
        name: "softmax_regression".into(),
        input_shape: vec![inputs],
        label: LabelSpec::Class {
            num_classes: classes,
        },
        layers: vec![NodeSpec::new(
            "dense",
            dense(classes, Activation::Softmax, Initializer::Zeros),
        )],
        output: None,
        loss: LossSpec::SparseCategoricalCrossentropy { from_logits: false },
        metrics: vec![MetricKind::SparseCategoricalAccuracy],
        partition: None,
    }
}

/// TFF's `create_conv_dropout_model` for EMNIST: Conv 32 3x3 relu, Conv 64 3x3
/// relu, MaxPool 2, Dropout 0.25, Flatten, Dense 128 relu, Dropout 0.5,
/// Dense `num_classes` softmax. Takes LEAF's flat `[784]` pixels and reshapes
/// them to `[28, 28, 1]`. 1,199,882 parameters for 10 classes.
pub fn cnn_dropout(num_classes: usize) -> ModelSpec {
    let conv = |filters| LayerKind::Conv2d {
        filters,
        kernel_size: 3,
        padding: Padding::Valid,
        activation: Activation::Relu,
        kernel_initializer: Initializer::GlorotUniform,
        bias_initializer: Initializer::Zeros,
    };
    ModelSpec {
        name: "cnn_dropout".into(),
        input_shape: vec![784],
        label: LabelSpec::Class { num_classes },
        layers: vec![
            NodeSpec::new(
                "image",
                LayerKind::Reshape {
                    shape: vec![28, 28, 1],
                },
            ),
            NodeSpec::new("conv1", conv(32)),
            NodeSpec::new("conv2", conv(64)),
            NodeSpec::new("pool", LayerKind::MaxPool2d),
            NodeSpec::new("dropout1", LayerKind::Dropout { rate: 0.25 }),
            NodeSpec::new("flatten", LayerKind::Flatten),
            NodeSpec::new(
                "dense1",
                dense(128, Activation::Relu, Initializer::GlorotUniform),
            ),
            NodeSpec::new("dropout2", LayerKind::Dropout { rate: 0.5 }),
            NodeSpec::new(
                "dense2",
                dense(num_classes, Activation::Softmax, Initializer::GlorotUniform),
            ),
        ],
        output: None,
        loss: LossSpec::SparseCategoricalCrossentropy { from_logits: false },
        metrics: vec![MetricKind::SparseCategoricalAccuracy],
        partition: None,
    }
}

/// Seed 003's matrix factorisation: a global item `Embedding(num_items, k)`,
/// a local user vector `(1, k)` (uniform init) and their `Dot`; MSE loss,
/// MSE and rating-accuracy metrics. Input: one item id per example.
pub fn matrix_factorization(num_items: usize, k: usize) -> ModelSpec {
    ModelSpec {
        name: "matrix_factorization".into(),
        input_shape: vec![1],
        label: LabelSpec::Real,
        layers: vec![
            NodeSpec::new(
                "item_embedding",
                LayerKind::Embedding {
                    input_dim: num_items,
                    output_dim: k,
                    embeddings_initializer: Initializer::uniform(),
                },
            )
            .with_inputs(&[INPUT]),
            NodeSpec::new("item_vector", LayerKind::Flatten),
            NodeSpec::new(
                "user_embedding",
                LayerKind::UserEmbedding {
                    units: k,
                    initializer: Initializer::uniform(),
                },
            )
            .with_inputs(&[INPUT]),
            NodeSpec::new("dot", LayerKind::Dot).with_inputs(&["user_embedding", "item_vector"]),
        ],
        output: None,
        loss: LossSpec::MeanSquaredError,
        metrics: vec![MetricKind::MeanSquaredError, MetricKind::RatingAccuracy],
        partition: Some(PartitionSpec::ByLayer {
            global: vec!["item_embedding".into()],
            local: vec!["user_embedding".into()],
        }),
    }
}
