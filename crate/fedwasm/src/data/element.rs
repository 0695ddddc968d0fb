//! The element model: what one example is, a set of examples, and a batch.
//!
//! # Layout
//! An example is a feature block `x` of shape [`ElementSpec::x_shape`] (no batch
//! dimension, row-major, `f32`) and one label `y` (`f32`). Class labels and ids
//! are `f32` holding whole numbers (see [`crate::tensor`]); real targets (ratings)
//! are any finite `f32`.
//!
//! [`Examples`] keeps `n` examples in two flat buffers: `x` of length
//! `n * prod(x_shape)` (example `i` is `x[i * d..(i + 1) * d]`) and `y` of
//! length `n`. A [`Batch`] is `b` examples stacked: `x` of shape
//! `[b, ..x_shape]` and `y` of shape `[b]`.

use crate::error::{Error, Result};
use crate::limits::{checked_product, LimitField, Limits};
use crate::tensor::{checked_numel, numel, Tensor};

/// What the label of an example means.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelSpec {
    /// A class id: a whole number in `0..num_classes`, carried as `f32`.
    Class { num_classes: usize },
    /// A real-valued target (for example a rating).
    Real,
}

/// The type of one example: the feature shape (without a batch dimension)
/// and the kind of label.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ElementSpec {
    /// Shape of one example's features, outermost first, no batch dimension.
    pub x_shape: Vec<usize>,
    /// What the label is.
    pub label: LabelSpec,
}

/// Largest whole number an `f32` holds exactly (2^24).
const F32_EXACT_INT: usize = 1 << 24;

impl ElementSpec {
    /// A spec from a feature shape and label kind.
    pub fn new(x_shape: Vec<usize>, label: LabelSpec) -> Self {
        ElementSpec { x_shape, label }
    }

    /// Number of feature values per example (`prod(x_shape)`).
    pub fn x_len(&self) -> usize {
        numel(&self.x_shape)
    }

    /// Checks the spec itself: an `x_shape` within the limits and a class
    /// count between 1 and 2^24.
    ///
    /// # Errors
    /// [`Error::Limit`] when `x_shape` overflows or exceeds
    /// [`Limits::max_tensor_elements`]; [`Error::Dataset`] when the class
    /// count is 0 or too large for `f32` ids.
    pub fn validate(&self) -> Result<()> {
        checked_numel("ElementSpec", &self.x_shape)?;
        if let LabelSpec::Class { num_classes } = self.label {
            if num_classes == 0 || num_classes > F32_EXACT_INT {
                return Err(Error::Dataset {
                    op: "ElementSpec",
                    detail: format!("num_classes must be in 1..=2^24, got {num_classes}"),
                });
            }
        }
        Ok(())
    }

    /// Checks one label against the spec; `Err(detail)` describes the problem.
    pub(crate) fn check_label(&self, y: f32) -> std::result::Result<(), String> {
        if !y.is_finite() {
            return Err(format!("label {y} is not finite"));
        }
        if let LabelSpec::Class { num_classes } = self.label {
            if y.fract() != 0.0 || y < 0.0 || y >= num_classes as f32 {
                return Err(format!("label {y} is not a class id in 0..{num_classes}"));
            }
        }
        Ok(())
    }
}

/// `n` examples of one [`ElementSpec`], stored flat (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Examples {
    spec: ElementSpec,
    x: Vec<f32>,
    y: Vec<f32>,
}

const EXAMPLES: &str = "<examples>";

impl Examples {
    /// Examples from flat buffers.
    ///
    /// # Errors
    /// [`Error::Limit`] for more examples than
    /// [`Limits::max_examples_per_client`], or an `x_shape` or feature buffer
    /// (`[examples, ..x_shape]`) over
    /// [`Limits::max_tensor_elements`];
    /// [`Error::Dataset`] when the spec is invalid or the lengths disagree
    /// (`x.len() != y.len() * prod(x_shape)`); [`Error::Data`] naming the example
    /// and field when a value is not finite or a class label is not a whole
    /// number in `0..num_classes`.
    pub fn new(spec: ElementSpec, x: Vec<f32>, y: Vec<f32>) -> Result<Self> {
        const OP: &str = "Examples::new";
        spec.validate()?;
        let d = checked_numel(OP, &spec.x_shape)?;
        Limits::current().check(
            OP,
            LimitField::ExamplesPerClient,
            "examples of one client",
            y.len() as u64,
        )?;
        let need = checked_product(
            OP,
            LimitField::TensorElements,
            || {
                format!(
                    "feature values of {} examples of shape {:?}",
                    y.len(),
                    spec.x_shape
                )
            },
            [y.len(), d],
        )?;
        if x.len() != need {
            return Err(Error::Dataset {
                op: OP,
                detail: format!(
                    "{} labels need {need} feature values of shape {:?}, got {}",
                    y.len(),
                    spec.x_shape,
                    x.len()
                ),
            });
        }
        for (i, &v) in y.iter().enumerate() {
            spec.check_label(v)
                .map_err(|detail| Error::data(EXAMPLES, format!("example {i}"), "y", detail))?;
        }
        if let Some(pos) = x.iter().position(|v| !v.is_finite()) {
            let i = pos / d.max(1);
            return Err(Error::data(
                EXAMPLES,
                format!("example {i}"),
                "x",
                format!("value {} at offset {} is not finite", x[pos], pos - i * d),
            ));
        }
        Ok(Examples { spec, x, y })
    }

    /// No examples yet.
    ///
    /// # Errors
    /// [`Error::Dataset`] when the spec is invalid.
    pub fn empty(spec: ElementSpec) -> Result<Self> {
        Self::new(spec, Vec::new(), Vec::new())
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The element spec.
    pub fn spec(&self) -> &ElementSpec {
        &self.spec
    }

    /// Features of example `i` (`prod(x_shape)` values). Panics if `i >= len()`.
    pub fn x_of(&self, i: usize) -> &[f32] {
        let d = self.spec.x_len();
        &self.x[i * d..(i + 1) * d]
    }

    /// Label of example `i`. Panics if `i >= len()`.
    pub fn y_of(&self, i: usize) -> f32 {
        self.y[i]
    }

    /// All features, flat (`len() * prod(x_shape)` values).
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// All labels.
    pub fn y(&self) -> &[f32] {
        &self.y
    }

    /// Appends one example.
    ///
    /// # Errors
    /// [`Error::Dataset`] when `x` has the wrong length; [`Error::Data`] when a
    /// value is not finite or the label does not fit the spec. Nothing is added
    /// on error.
    pub fn push(&mut self, x: &[f32], y: f32) -> Result<()> {
        let i = self.len();
        if x.len() != self.spec.x_len() {
            return Err(Error::Dataset {
                op: "Examples::push",
                detail: format!(
                    "example needs {} feature values (shape {:?}), got {}",
                    self.spec.x_len(),
                    self.spec.x_shape,
                    x.len()
                ),
            });
        }
        self.spec
            .check_label(y)
            .map_err(|detail| Error::data(EXAMPLES, format!("example {i}"), "y", detail))?;
        if let Some(v) = x.iter().find(|v| !v.is_finite()) {
            return Err(Error::data(
                EXAMPLES,
                format!("example {i}"),
                "x",
                format!("value {v} is not finite"),
            ));
        }
        self.x.extend_from_slice(x);
        self.y.push(y);
        Ok(())
    }

    /// Appends all of `other` (same spec).
    ///
    /// # Errors
    /// [`Error::Dataset`] when the specs differ.
    pub fn extend_from(&mut self, other: &Examples) -> Result<()> {
        if other.spec != self.spec {
            return Err(Error::Dataset {
                op: "Examples::extend_from",
                detail: format!("spec {:?} differs from {:?}", other.spec, self.spec),
            });
        }
        self.x.extend_from_slice(&other.x);
        self.y.extend_from_slice(&other.y);
        Ok(())
    }

    /// The examples whose index satisfies `keep`, with a (possibly new) spec.
    /// Used by label filters; labels are re-checked against `spec`.
    ///
    /// # Errors
    /// As [`Examples::new`].
    pub fn select(&self, spec: ElementSpec, keep: impl Fn(usize) -> bool) -> Result<Examples> {
        let d = self.spec.x_len();
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in (0..self.len()).filter(|&i| keep(i)) {
            x.extend_from_slice(&self.x[i * d..(i + 1) * d]);
            y.push(self.y[i]);
        }
        Examples::new(spec, x, y)
    }

    /// Examples from buffers the caller has already validated (same checks
    /// as [`Examples::new`]); only checked in debug builds.
    pub(crate) fn from_valid(spec: ElementSpec, x: Vec<f32>, y: Vec<f32>) -> Examples {
        debug_assert_eq!(x.len(), y.len() * spec.x_len());
        Examples { spec, x, y }
    }

    /// Flat buffers `(x, y)`, consuming the examples.
    pub fn into_parts(self) -> (ElementSpec, Vec<f32>, Vec<f32>) {
        (self.spec, self.x, self.y)
    }
}

/// `b` examples stacked: `x` is `[b, ..x_shape]`, `y` is `[b]` (class ids or
/// real targets, as `f32`).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Features, shape `[b, ..x_shape]`.
    pub x: Tensor,
    /// Labels, shape `[b]`.
    pub y: Tensor,
}

impl Batch {
    /// Number of examples in the batch.
    pub fn size(&self) -> usize {
        self.y.shape().first().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(k: usize) -> ElementSpec {
        ElementSpec::new(vec![2], LabelSpec::Class { num_classes: k })
    }

    #[test]
    fn new_checks_lengths_and_labels() {
        assert!(Examples::new(spec(3), vec![0.0; 4], vec![0.0, 2.0]).is_ok());
        assert!(Examples::new(spec(3), vec![0.0; 3], vec![0.0, 2.0]).is_err());
        let e = Examples::new(spec(3), vec![0.0; 4], vec![0.0, 3.0]).unwrap_err();
        assert!(e.to_string().contains("example 1"), "{e}");
        assert!(Examples::new(spec(3), vec![0.0; 4], vec![0.5, 1.0]).is_err());
        let e = Examples::new(spec(3), vec![0.0, 0.0, f32::NAN, 0.0], vec![0.0, 1.0]).unwrap_err();
        assert!(
            e.to_string().contains("example 1") && e.to_string().contains("field x"),
            "{e}"
        );
    }

    #[test]
    fn push_and_access() {
        let mut ex = Examples::empty(ElementSpec::new(vec![2], LabelSpec::Real)).unwrap();
        ex.push(&[1.0, 2.0], 3.5).unwrap();
        ex.push(&[4.0, 5.0], -1.0).unwrap();
        assert!(ex.push(&[1.0], 0.0).is_err());
        assert!(ex.push(&[1.0, 2.0], f32::INFINITY).is_err());
        assert_eq!(ex.len(), 2);
        assert_eq!(ex.x_of(1), &[4.0, 5.0]);
        assert_eq!(ex.y_of(0), 3.5);
    }
}
