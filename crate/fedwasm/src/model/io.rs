//! Moving a model's variables in and out as a [`WeightsSnapshot`]
//! (names and shapes as [`Model::variables`] gives them).

use super::api::{Model, VariableGroup, VariableInfo};
use super::weights::{NamedTensor, WeightsSnapshot};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Reads the variables of `model` whose group satisfies `keep` (one
/// read-back for all of them). Use `|_| true` for all, `VariableGroup::is_global` for what
/// may leave the client.
///
/// # Errors
/// Whatever [`Backend::read`] reports.
pub async fn read_weights(
    b: &dyn Backend,
    model: &dyn Model,
    keep: impl Fn(VariableGroup) -> bool,
) -> Result<WeightsSnapshot> {
    let kept = variables_where(model, keep);
    let tensors: Vec<&Tensor> = kept.iter().map(|(_, t)| *t).collect();
    let data = b.read_many(&tensors).await?;
    Ok(WeightsSnapshot::new(named(&kept, data)?))
}

/// The variables of `model` whose group satisfies `keep`, with their values,
/// in model order.
pub(crate) fn variables_where(
    model: &dyn Model,
    keep: impl Fn(VariableGroup) -> bool,
) -> Vec<(&VariableInfo, &Tensor)> {
    model
        .variables()
        .iter()
        .zip(model.values())
        .filter(|(info, _)| keep(info.group))
        .collect()
}

/// Names the values read back for `vars` (in the same order).
///
/// # Errors
/// [`Error::DataLength`] when a value does not fit its variable's shape.
pub(crate) fn named(
    vars: &[(&VariableInfo, &Tensor)],
    data: Vec<Vec<f32>>,
) -> Result<Vec<NamedTensor>> {
    vars.iter()
        .zip(data)
        .map(|((info, _), d)| NamedTensor::new(info.name.clone(), info.shape.clone(), d))
        .collect()
}

/// Assigns every variable in `weights` to the model variable of the same name.
/// Variables of the model not in `weights` keep their values.
///
/// # Errors
/// [`Error::Weights`] naming an unknown variable or a shape mismatch; nothing
/// is assigned unless everything matches.
pub fn assign_weights(
    b: &dyn Backend,
    model: &mut dyn Model,
    weights: &WeightsSnapshot,
) -> Result<()> {
    let name = model.name().to_string();
    let mut plan = Vec::new();
    for w in &weights.variables {
        let i = model
            .variables()
            .iter()
            .position(|v| v.name == w.name)
            .ok_or_else(|| Error::Weights {
                model: name.clone(),
                detail: format!(
                    "unknown variable {:?} (model has {:?})",
                    w.name,
                    model
                        .variables()
                        .iter()
                        .map(|v| &v.name)
                        .collect::<Vec<_>>()
                ),
            })?;
        let expected = &model.variables()[i].shape;
        if &w.shape != expected {
            return Err(Error::Weights {
                model: name,
                detail: format!(
                    "variable {:?} has shape {:?}, expected {:?}",
                    w.name, w.shape, expected
                ),
            });
        }
        plan.push((i, b.upload(&w.shape, &w.data)?));
    }
    for (i, t) in plan {
        model.values_mut()[i] = t;
    }
    Ok(())
}
