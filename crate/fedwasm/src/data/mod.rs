//! Client data and input pipelines: the element model, a `tf.data`-like
//! [`Dataset`], per-client [`ClientData`], the reconstruction split, and
//! loaders (LEAF FEMNIST, MovieLens, CSV, synthetic, and an embedded FEMNIST
//! digits subset).
//!
//! # Data layout
//! One example is a feature block `x` of shape [`ElementSpec::x_shape`]
//! (row-major `f32`, no batch dimension) and one `f32` label `y`: a class id
//! held as a whole number ([`LabelSpec::Class`]) or a real target
//! ([`LabelSpec::Real`]). Sets of examples are stored flat in [`Examples`];
//! iterating a batched [`Dataset`] yields [`Batch`]es with `x: [b, ..x_shape]`
//! and `y: [b]`.
//!
//! Loaders that read files (`load_*`) exist only on native targets; the
//! matching `parse_*` functions take bytes or text and work everywhere,
//! including wasm32.

pub mod client_data;
pub mod csv;
pub mod dataset;
pub mod element;
pub mod embedded;
pub mod leaf;
pub mod movielens;
pub mod plan;
pub mod split;
pub mod synthetic;
pub mod wire;

pub use client_data::ClientData;
pub use csv::{parse_csv, ColumnRef, CsvOptions};
pub use dataset::{Batches, Dataset, ExampleIter, MapFn};
pub use element::{Batch, ElementSpec, Examples, LabelSpec};
pub use embedded::{decode_femnist_pack, encode_femnist_pack, femnist_digits, FEMNIST_DIGITS_10};
pub use leaf::{parse_leaf_files, parse_leaf_json, LeafOptions, LEAF_CLASSES, LEAF_PIXELS};
pub use movielens::{parse_movielens, MovieLens, MovieLensOptions};
pub use plan::{apply_plan, DatasetOp, DatasetPlan};
pub use split::{simple_dataset_split_fn, ReconstructionSplit, SplitDataset};
pub use synthetic::{
    synthetic_classification, synthetic_ratings, SyntheticClassification, SyntheticRatings,
    SyntheticRatingsData,
};
pub use wire::{decode_examples, encode_examples};

#[cfg(not(target_arch = "wasm32"))]
pub use csv::load_csv;
#[cfg(not(target_arch = "wasm32"))]
pub use leaf::load_leaf_dir;
#[cfg(not(target_arch = "wasm32"))]
pub use movielens::load_movielens;
