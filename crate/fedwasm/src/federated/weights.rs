//! Moving [`ModelWeights`] (the protocol's global weights, see
//! [`fedwasm_protocol::model_weights`]) between the host and a model on a
//! backend.

use crate::backend::Backend;
use crate::error::Result;
use crate::model::{read_weights, Model, VariableGroup};

pub use fedwasm_protocol::model_weights::ModelWeights;

/// Reads the global variables of `model` back from `b` (one read-back for
/// all of them: one mapping on a GPU).
///
/// # Errors
/// Whatever [`Backend::read`] reports.
pub async fn read_model_weights(b: &dyn Backend, model: &dyn Model) -> Result<ModelWeights> {
    let globals = read_weights(b, model, VariableGroup::is_global).await?;
    let groups = model
        .variables()
        .iter()
        .filter(|v| v.group.is_global())
        .map(|v| v.group);
    let mut w = ModelWeights::default();
    for (group, value) in groups.zip(globals.variables) {
        match group {
            VariableGroup::GlobalTrainable => w.trainable.push(value),
            _ => w.non_trainable.push(value),
        }
    }
    Ok(w)
}

/// Uploads `weights` into the global variables of `model`, after checking
/// that they have exactly the model's global structure.
///
/// # Errors
/// [`crate::Error::WeightsStructure`] (naming `op`) when names, shapes or
/// order differ; nothing is assigned then. Whatever the backend reports.
pub fn assign_model_weights(
    op: &'static str,
    weights: &ModelWeights,
    b: &dyn Backend,
    model: &mut dyn Model,
) -> Result<()> {
    weights.check_structure(op, model.variables())?;
    let mut t = weights.trainable.iter();
    let mut n = weights.non_trainable.iter();
    let mut uploads = Vec::new();
    for (i, info) in model.variables().iter().enumerate() {
        let src = match info.group {
            VariableGroup::GlobalTrainable => t.next(),
            VariableGroup::GlobalNonTrainable => n.next(),
            _ => None,
        };
        if let Some(v) = src {
            uploads.push((i, b.upload(&v.shape, &v.data)?));
        }
    }
    for (i, value) in uploads {
        model.values_mut()[i] = value;
    }
    Ok(())
}
