pub mod weights;
pub use weights::*;
