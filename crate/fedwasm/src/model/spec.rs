//! Declarative model descriptions (JSON via serde).
//!
//! A description is a list of named nodes, each a layer ([`LayerKind`]) fed by
//! earlier nodes or by the model input (`"input"`). A node without `inputs`
//! takes the previous node (the first node takes the input), so a Sequential
//! model is just a list; branches name their inputs. Unknown fields are errors.
//!
//! ```json
//! {"name": "mf", "input_shape": [1], "label": "real",
//!  "layers": [
//!    {"name": "item", "layer": {"embedding": {"input_dim": 100, "output_dim": 8}}, "inputs": ["input"]},
//!    {"name": "item_flat", "layer": "flatten"},
//!    {"name": "user", "layer": {"user_embedding": {"units": 8}}, "inputs": ["input"]},
//!    {"name": "dot", "layer": "dot", "inputs": ["user", "item_flat"]}],
//!  "loss": "mean_squared_error",
//!  "metrics": ["mean_squared_error", "rating_accuracy"],
//!  "partition": {"by_layer": {"global": ["item"], "local": ["user"]}}}
//! ```

use serde::{Deserialize, Serialize};

use crate::data::{ElementSpec, LabelSpec};
use crate::error::{Error, Result};
use crate::layers::LayerKind;
use crate::metrics::MetricKind;

/// The reserved name of the model input.
pub const INPUT: &str = "input";

fn default_true() -> bool {
    true
}

/// One node of a model graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique node name; variables are named `<name>/<param>`.
    pub name: String,
    /// The layer.
    pub layer: LayerKind,
    /// Input nodes (or `"input"`); default: the previous node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// Whether the layer's variables are trainable (Keras' `layer.trainable`).
    #[serde(default = "default_true")]
    pub trainable: bool,
}

impl NodeSpec {
    /// A trainable node fed by the previous node.
    pub fn new(name: &str, layer: LayerKind) -> Self {
        NodeSpec {
            name: name.to_string(),
            layer,
            inputs: None,
            trainable: true,
        }
    }

    /// The same node fed by `inputs`.
    pub fn with_inputs(mut self, inputs: &[&str]) -> Self {
        self.inputs = Some(inputs.iter().map(|s| s.to_string()).collect());
        self
    }
}

/// The training loss, applied to the output node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LossSpec {
    /// Sparse categorical cross-entropy; on probabilities, or fused with
    /// softmax on logits when `from_logits`.
    SparseCategoricalCrossentropy {
        /// The output node gives logits, not probabilities.
        #[serde(default)]
        from_logits: bool,
    },
    /// Mean squared error against real targets.
    MeanSquaredError,
}

/// How variables split into ReconstructionModel's groups (seed 000).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PartitionSpec {
    /// `from_keras_model_and_layers`: every layer with variables is global or
    /// local; trainability comes from each node's `trainable`.
    ByLayer {
        /// Layers aggregated on the server.
        global: Vec<String>,
        /// Layers kept on the client.
        local: Vec<String>,
    },
    /// `from_keras_model_and_variables`: every variable in exactly one group.
    ByVariable {
        /// Global trainable variables (`layer/param` names).
        global_trainable: Vec<String>,
        /// Global non-trainable variables.
        #[serde(default)]
        global_non_trainable: Vec<String>,
        /// Local trainable variables.
        #[serde(default)]
        local_trainable: Vec<String>,
        /// Local non-trainable variables.
        #[serde(default)]
        local_non_trainable: Vec<String>,
    },
}

/// A whole model description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Model name.
    pub name: String,
    /// Per-example input shape.
    pub input_shape: Vec<usize>,
    /// Label kind: `{"class": {"num_classes": 10}}` or `"real"`.
    pub label: LabelSpec,
    /// Nodes in evaluation order.
    pub layers: Vec<NodeSpec>,
    /// Output node; default: the last node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Loss.
    pub loss: LossSpec,
    /// Metrics besides loss, num_examples and num_batches.
    #[serde(default)]
    pub metrics: Vec<MetricKind>,
    /// Variable partition; default: every variable global.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionSpec>,
}

impl ModelSpec {
    /// Parses a JSON description.
    ///
    /// Shapes and sizes are checked against the limits when the model is
    /// built ([`crate::model::GraphModel::new`]).
    ///
    /// # Errors
    /// [`Error::Limit`] for a text over `max_message_bytes`;
    /// [`Error::Json`] with serde's message (unknown fields, missing fields, line and column).
    pub fn from_json(json: &str) -> Result<Self> {
        crate::limits::Limits::current().check_bytes(
            "ModelSpec::from_json",
            "a model description",
            json.len(),
        )?;
        serde_json::from_str(json).map_err(|source| Error::Json {
            what: "model description".into(),
            source,
        })
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("model specs always serialise")
    }

    /// The element spec this model consumes.
    pub fn element_spec(&self) -> ElementSpec {
        ElementSpec {
            x_shape: self.input_shape.clone(),
            label: self.label.clone(),
        }
    }
}
