//! Model weights as named host tensors, with JSON and binary file formats.
//!
//! # Data layout
//! A [`WeightsSnapshot`] is an ordered list of [`NamedTensor`]s: a variable
//! name (e.g. `"dense/kernel"`), its shape (outermost dimension first) and its
//! elements as row-major `f32` (the layout of `fedwasm::tensor`). Order matters: it is
//! the model's variable order.
//!
//! # Files
//! * JSON ([`WeightsSnapshot::to_json`]):
//!   `{"format":"fedwasm-weights","version":1,"variables":[{"name":..,"shape":[..],"data":[..]}]}`.
//!   Floats are printed in shortest round-trip form, so every finite `f32`
//!   (including `-0.0` and subnormals) reads back bit for bit.
//! * Binary ([`WeightsSnapshot::to_bytes`]): version 2 of the `FWWT` file,
//!   the aligned layout of [`crate::encoding`] (names padded to 4 bytes, so
//!   every `f32` array starts at a multiple of 4). Version 1
//!   ([`WeightsSnapshot::to_bytes_v1`], still read), all integers
//!   little-endian `u32`: magic `b"FWWT"`, version (1), variable count, then
//!   per variable the name length in bytes and the UTF-8 name, the rank and
//!   each dimension, and the `f32` elements (little-endian); finally the IEEE
//!   CRC-32 of every byte before it.
//!
//! Both readers reject non-finite values, data that does not fit its shape
//! and duplicate names, naming the variable; neither panics on any input.
//! Both check [`crate::limits::Limits`] in force: the file's size
//! (`max_message_bytes`) before anything else, each shape
//! (`max_tensor_elements`) and the total (`max_model_parameters`), with an
//! [`Error::Limit`] naming the variable.

mod binary;
mod json;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Float, Result};

/// One variable: name, shape and row-major `f32` elements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTensor {
    /// Variable name, unique within a snapshot.
    pub name: String,
    /// Shape, outermost dimension first (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// Row-major elements; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// A named tensor, checking that `data` fits `shape`.
    ///
    /// # Errors
    /// [`Error::DataLength`] when `data.len()` is not the product of `shape`.
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let t = NamedTensor {
            name: name.into(),
            shape,
            data,
        };
        if shape_len(&t.shape) != Some(t.data.len()) {
            return Err(Error::DataLength {
                op: "NamedTensor::new",
                shape: t.shape,
                len: t.data.len(),
            });
        }
        Ok(t)
    }

    /// Checks the length and finiteness of the data.
    fn check(&self) -> std::result::Result<(), String> {
        let expected = shape_len(&self.shape);
        if expected != Some(self.data.len()) {
            let need = expected.map_or("an overflowing number of".into(), |n| n.to_string());
            return Err(format!(
                "variable {:?}: data has {} values but shape {:?} needs {need}",
                self.name,
                self.data.len(),
                self.shape
            ));
        }
        if let Some(i) = self.data.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "variable {:?}: non-finite value {} at index {i}",
                self.name,
                Float(self.data[i])
            ));
        }
        Ok(())
    }
}

/// Product of `shape`, or `None` on overflow.
fn shape_len(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// A model's weights: named variables in model order.
///
/// The serde derives give the bare `{"variables": [..]}` form, unchecked, for
/// embedding in other documents; the weights *file* format, with its
/// envelope and validation, is [`WeightsSnapshot::to_json`] /
/// [`WeightsSnapshot::from_json`].
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct WeightsSnapshot {
    /// The variables, in the model's order.
    pub variables: Vec<NamedTensor>,
}

impl WeightsSnapshot {
    /// A snapshot of `variables`, in order.
    pub fn new(variables: Vec<NamedTensor>) -> Self {
        WeightsSnapshot { variables }
    }

    /// The variable called `name`.
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Variable names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.variables.iter().map(|v| v.name.as_str()).collect()
    }

    /// Total number of elements over all variables.
    pub fn num_parameters(&self) -> usize {
        self.variables.iter().map(|v| v.data.len()).sum()
    }

    /// Checks every variable: data fits the shape, values are finite, names
    /// are unique. The message names the first offending variable.
    ///
    /// # Errors
    /// A description of the first problem (callers wrap it in their error).
    fn check(&self) -> std::result::Result<(), String> {
        let mut seen = HashSet::new();
        for v in &self.variables {
            v.check()?;
            if !seen.insert(v.name.as_str()) {
                return Err(format!("duplicate variable name {:?}", v.name));
            }
        }
        Ok(())
    }

    /// Checks every shape against
    /// [`Limits::max_tensor_elements`](crate::limits::Limits::max_tensor_elements)
    /// and the total against
    /// [`Limits::max_model_parameters`](crate::limits::Limits::max_model_parameters)
    /// in [`Limits::current`](crate::limits::Limits::current).
    ///
    /// # Errors
    /// [`Error::Limit`] naming `op` and the first variable over a limit.
    pub fn check_limits(&self, op: &'static str) -> Result<()> {
        let limits = crate::limits::Limits::current();
        let mut parameters = 0u64;
        for (i, v) in self.variables.iter().enumerate() {
            let n = crate::limits::tensor_elements(op, &v.shape)
                .map_err(|e| e.in_context(format_args!("variable {i} {:?}", v.name)))?;
            parameters += n as u64;
            limits.check(
                op,
                crate::limits::LimitField::ModelParameters,
                "parameters of the snapshot (all variables together)",
                parameters,
            )?;
        }
        Ok(())
    }

    /// Checks the snapshot (see the module docs for the rules).
    ///
    /// # Errors
    /// [`Error::Weights`] naming the first offending variable.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|detail| Error::Weights {
            model: "snapshot".into(),
            detail,
        })
    }

    /// The snapshot as a JSON document (see the module docs).
    ///
    /// # Errors
    /// [`Error::Weights`] when the snapshot is invalid ([`WeightsSnapshot::validate`]):
    /// JSON cannot carry NaN or infinities.
    pub fn to_json(&self) -> Result<String> {
        self.validate()?;
        json::write(self)
    }

    /// Parses a JSON document written by [`WeightsSnapshot::to_json`].
    ///
    /// # Errors
    /// [`Error::Limit`] for a document over `max_message_bytes` or a shape
    /// or total over the tensor and parameter limits;
    /// [`Error::Json`] for malformed JSON, unknown fields (naming the
    /// variable), a wrong `format` or `version`, data that does not fit its
    /// shape, non-finite values or duplicate names.
    pub fn from_json(json: &str) -> Result<Self> {
        json::read(json)
    }

    /// The snapshot in the compact binary format (see the module docs).
    ///
    /// An invalid snapshot (data not fitting its shape, non-finite values,
    /// a dimension or name length beyond `u32`) is written as is, and
    /// [`WeightsSnapshot::from_bytes`] rejects the result; call
    /// [`WeightsSnapshot::validate`] first to catch this early.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::encoding::write_weights_v2(self)
    }

    /// The snapshot in the original, unaligned binary format (version 1),
    /// for tools that read only that.
    pub fn to_bytes_v1(&self) -> Vec<u8> {
        binary::write(self)
    }

    /// Parses the binary format.
    ///
    /// # Errors
    /// [`Error::Limit`] for a file over `max_message_bytes` or a shape or
    /// total over the tensor and parameter limits; [`Error::Binary`] for a bad magic number, an unsupported version, a
    /// checksum mismatch, truncation, sizes larger than the file, trailing
    /// bytes, invalid UTF-8 names, non-finite values or duplicate names.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.starts_with(b"FWWT") && bytes.get(4..8) == Some(&2u32.to_le_bytes()[..]) {
            let snapshot = WeightsSnapshot {
                variables: crate::encoding::read_weights_v2(bytes)?,
            };
            snapshot.check_limits("WeightsSnapshot::from_bytes")?;
            snapshot.check().map_err(|detail| Error::Binary {
                what: "fedwasm weights".into(),
                detail,
            })?;
            return Ok(snapshot);
        }
        binary::read(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_tensor_checks_length() {
        assert!(NamedTensor::new("w", vec![2, 3], vec![0.0; 5]).is_err());
        let t = NamedTensor::new("w", vec![2, 3], vec![1.0; 6]).unwrap();
        assert_eq!(t.shape, [2, 3]);
        let scalar = NamedTensor::new("s", vec![], vec![4.0]).unwrap();
        assert_eq!(scalar.data.len(), 1);
    }

    #[test]
    fn lookups() {
        let w = WeightsSnapshot::new(vec![
            NamedTensor::new("a", vec![2], vec![1.0, 2.0]).unwrap(),
            NamedTensor::new("b", vec![3, 1], vec![0.0; 3]).unwrap(),
        ]);
        assert_eq!(w.names(), vec!["a", "b"]);
        assert_eq!(w.num_parameters(), 5);
        assert_eq!(w.get("b").unwrap().shape, vec![3, 1]);
        assert!(w.get("c").is_none());
        w.validate().unwrap();
        let dup = WeightsSnapshot::new(vec![w.variables[0].clone(), w.variables[0].clone()]);
        assert!(dup
            .validate()
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
    }
}
