//! The messages of a round, as owned values that can cross a worker or a
//! socket (binary encodings: [`crate::encoding`]).
//!
//! * [`ClientTask`] (server to client): the round, the model's fingerprint,
//!   the client's key and seed, what to do ([`ClientWork`]), how it is
//!   weighted, the broadcast global weights and a [`DatasetPlan`].
//! * [`ClientUpdate`] (client to server): the round, the fingerprint, the
//!   client's key, its weight, its named update tensors (`client - global`
//!   per global trainable variable, in model order; none for evaluation) and
//!   its unfinalized metrics.
//! * [`ClientState`] (client only): a stateful client's local variables. It
//!   is never part of an update: it goes back to the client's own store.
//!
//! A model's **fingerprint** ([`model_fingerprint`]) is the 64-bit FNV-1a
//! of its variables' names, shapes and groups, so a client and a server
//! agree on the model before any weight is read.

use serde::{Deserialize, Serialize};

use crate::aggregation::ClientWeighting;
use crate::checksum::fnv1a64;
use crate::metrics::UnfinalizedMetrics;
use crate::model_weights::ModelWeights;
use crate::plan::DatasetPlan;
use crate::variables::{VariableGroup, VariableInfo};
use crate::weights::NamedTensor;
use crate::work::ClientWork;

/// The fingerprint of a model with these variables (see the module docs):
/// FNV-1a over, per variable in order, the name's UTF-8 bytes, a 0 byte,
/// the rank and each dimension as little-endian `u64`, and the group's
/// index (0 global trainable, 1 global non-trainable, 2 local trainable,
/// 3 local non-trainable) as one byte.
pub fn model_fingerprint(variables: &[VariableInfo]) -> u64 {
    let mut bytes = Vec::new();
    for v in variables {
        bytes.extend_from_slice(v.name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&(v.shape.len() as u64).to_le_bytes());
        for &d in &v.shape {
            bytes.extend_from_slice(&(d as u64).to_le_bytes());
        }
        bytes.push(match v.group {
            VariableGroup::GlobalTrainable => 0,
            VariableGroup::GlobalNonTrainable => 1,
            VariableGroup::LocalTrainable => 2,
            VariableGroup::LocalNonTrainable => 3,
        });
    }
    fnv1a64(&bytes)
}

/// What the server asks of one client in one round (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTask {
    /// The round this task belongs to (the state's round index).
    pub round_id: u64,
    /// [`model_fingerprint`] of the process's model.
    pub model_fingerprint: u64,
    /// The client's key: its position in a local round, or its stable id
    /// (a stateful client's index, a coordinator's client number).
    pub client_key: u64,
    /// The client's seed for the round (dropout masks, re-initialised local
    /// variables).
    pub seed: u64,
    /// What to do.
    pub work: ClientWork,
    /// How the update is weighted.
    pub weighting: ClientWeighting,
    /// The broadcast global model.
    pub global: ModelWeights,
    /// How to build the round's batches from the client's examples.
    pub plan: DatasetPlan,
}

/// What one client sends back (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    /// The task's round.
    pub round_id: u64,
    /// The task's model fingerprint.
    pub model_fingerprint: u64,
    /// The task's client key.
    pub client_key: u64,
    /// The client's weight in the mean: a whole number (its examples, or 1).
    pub weight: f64,
    /// True when the client's update held a NaN or an infinity and it sent
    /// zeros instead (weight 0 when weighting by examples), as TFF does.
    pub non_finite: bool,
    /// `client - global` per global trainable variable, named as the
    /// variable, in model order; empty for evaluation.
    pub update: Vec<NamedTensor>,
    /// The client's unfinalized metrics.
    pub metrics: UnfinalizedMetrics,
}

/// A stateful client's private state (seed 003's `ClientState`): its key
/// and its local variables in model order. Never part of an update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientState {
    /// The client's index (its key; the caller's key for its store).
    pub index: u64,
    /// The local variables, in model order.
    pub local_weights: Vec<NamedTensor>,
}
