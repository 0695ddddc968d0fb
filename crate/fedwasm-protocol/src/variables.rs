//! A model's variables as the protocol sees them: name, shape and one of
//! seed 000's four groups (`ReconstructionModel`: global or local x
//! trainable or not). Local variables never leave the client.

use serde::{Deserialize, Serialize};

/// ReconstructionModel's four variable groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableGroup {
    /// Aggregated on the server and trained.
    GlobalTrainable,
    /// Aggregated on the server, not trained.
    GlobalNonTrainable,
    /// Kept on the client, reconstructed by training.
    LocalTrainable,
    /// Kept on the client, not trained.
    LocalNonTrainable,
}

impl VariableGroup {
    /// Global (shared with the server)?
    pub fn is_global(self) -> bool {
        matches!(
            self,
            VariableGroup::GlobalTrainable | VariableGroup::GlobalNonTrainable
        )
    }

    /// Trained by gradient descent?
    pub fn is_trainable(self) -> bool {
        matches!(
            self,
            VariableGroup::GlobalTrainable | VariableGroup::LocalTrainable
        )
    }
}

/// A model variable: full name (`layer/kernel`), shape and group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariableInfo {
    /// `"<layer>/<param>"` for described models.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Group.
    pub group: VariableGroup,
}
