//! Assigning variables to ReconstructionModel's four groups (seed 000),
//! rejecting overlapping or incomplete partitions.

use std::collections::{BTreeMap, BTreeSet};

use super::api::VariableGroup;
use super::spec::PartitionSpec;
use crate::error::{Error, Result};

/// A variable as the partitioner sees it.
pub struct Candidate<'a> {
    /// Full name `layer/param`.
    pub name: &'a str,
    /// Owning layer.
    pub layer: &'a str,
    /// Whether its layer is trainable.
    pub trainable: bool,
}

/// Groups for `vars`, in order.
///
/// # Errors
/// [`Error::Partition`] naming the overlapping, missing or unknown layers or variables.
pub fn assign(
    model: &str,
    spec: Option<&PartitionSpec>,
    layers: &[&str],
    vars: &[Candidate<'_>],
) -> Result<Vec<VariableGroup>> {
    let fail = |detail: String| Error::Partition {
        model: model.to_string(),
        detail,
    };
    let by_trainable = |global: bool, trainable: bool| match (global, trainable) {
        (true, true) => VariableGroup::GlobalTrainable,
        (true, false) => VariableGroup::GlobalNonTrainable,
        (false, true) => VariableGroup::LocalTrainable,
        (false, false) => VariableGroup::LocalNonTrainable,
    };
    match spec {
        None => Ok(vars
            .iter()
            .map(|v| by_trainable(true, v.trainable))
            .collect()),
        Some(PartitionSpec::ByLayer { global, local }) => {
            let known: BTreeSet<&str> = layers.iter().copied().collect();
            let mut side: BTreeMap<&str, bool> = BTreeMap::new();
            for (names, is_global) in [(global, true), (local, false)] {
                for n in names {
                    if !known.contains(n.as_str()) {
                        return Err(fail(format!("layer {n:?} is not in the model")));
                    }
                    if side.insert(n.as_str(), is_global).is_some() {
                        return Err(fail(format!(
                            "layer {n:?} is listed twice (global and local must be disjoint)"
                        )));
                    }
                }
            }
            let missing: BTreeSet<&str> = vars
                .iter()
                .filter(|v| !side.contains_key(v.layer))
                .map(|v| v.layer)
                .collect();
            if !missing.is_empty() {
                return Err(fail(format!(
                    "layers {missing:?} have variables but are in neither the global nor the local list"
                )));
            }
            Ok(vars
                .iter()
                .map(|v| by_trainable(side[v.layer], v.trainable))
                .collect())
        }
        Some(PartitionSpec::ByVariable {
            global_trainable,
            global_non_trainable,
            local_trainable,
            local_non_trainable,
        }) => {
            let known: BTreeSet<&str> = vars.iter().map(|v| v.name).collect();
            let mut group: BTreeMap<&str, VariableGroup> = BTreeMap::new();
            for (names, g) in [
                (global_trainable, VariableGroup::GlobalTrainable),
                (global_non_trainable, VariableGroup::GlobalNonTrainable),
                (local_trainable, VariableGroup::LocalTrainable),
                (local_non_trainable, VariableGroup::LocalNonTrainable),
            ] {
                for n in names {
                    if !known.contains(n.as_str()) {
                        return Err(fail(format!(
                            "variable {n:?} is not in the model (known: {known:?})"
                        )));
                    }
                    if let Some(prev) = group.insert(n.as_str(), g) {
                        return Err(fail(format!(
                            "variable {n:?} is in both {prev:?} and {g:?}"
                        )));
                    }
                }
            }
            let missing: Vec<&str> = vars
                .iter()
                .map(|v| v.name)
                .filter(|n| !group.contains_key(n))
                .collect();
            if !missing.is_empty() {
                return Err(fail(format!("variables {missing:?} are in no group")));
            }
            Ok(vars.iter().map(|v| group[v.name]).collect())
        }
    }
}
