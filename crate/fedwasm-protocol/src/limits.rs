//! Limits on what a size read from input may allocate.
//!
//! Every decoder (weights files, model descriptions, checkpoints, datasets,
//! protocol messages) and every size computed from shapes is checked against
//! these before anything is allocated, so input from a stranger can cost at
//! most what the host allows, and a size that overflows 64 bits is an
//! [`Error::Limit`], never a wrapped product or a panic.
//!
//! The limits in force are process-wide (one set per wasm instance or
//! native process): [`Limits::current`] reads them, [`Limits::set`] replaces
//! them. The defaults suit a browser tab (a wasm32 instance has at most
//! 4 GiB of memory).
//!
//! | limit | checked by |
//! |---|---|
//! | `max_message_bytes` | every decoder, first ([`Limits::check_bytes`]) |
//! | `max_tensor_elements` | every tensor made ([`tensor_elements`]) and every size a backend computes before it allocates or dispatches (GEMM operands and result, im2col, conv output, gathers); each shape a decoder reads; a client's feature buffer `[examples, ..x_shape]`; a batch |
//! | `max_model_parameters` | a model's variables together (built from a description); a weights file, a checkpoint's global model, an optimizer state's slots |
//! | `max_examples_per_client` | a client's examples, whatever loads them (LEAF, MovieLens, CSV, the FEMNIST pack), counted before anything is sized from them |
//!
//! [`crate::fuzz`] checks that no decoder panics or allocates past these.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The limits (see the module docs). Every field is a count, not bytes,
/// except [`Limits::max_message_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Elements of one tensor (default 2^28: 1 GiB of `f32`).
    pub max_tensor_elements: u64,
    /// Parameters of one model, all variables together (default 2^27).
    pub max_model_parameters: u64,
    /// Examples of one client's dataset (default 2^24).
    pub max_examples_per_client: u64,
    /// Bytes of one encoded message or file: a task, an update, a client
    /// state, a checkpoint, a weights file, a dataset file (default 2^30).
    pub max_message_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// The process-wide limits, one atomic per field.
static CURRENT: [AtomicU64; 4] = [
    AtomicU64::new(Limits::DEFAULT.max_tensor_elements),
    AtomicU64::new(Limits::DEFAULT.max_model_parameters),
    AtomicU64::new(Limits::DEFAULT.max_examples_per_client),
    AtomicU64::new(Limits::DEFAULT.max_message_bytes),
];

impl Limits {
    /// The defaults (see each field).
    pub const DEFAULT: Limits = Limits {
        max_tensor_elements: 1 << 28,
        max_model_parameters: 1 << 27,
        max_examples_per_client: 1 << 24,
        max_message_bytes: 1 << 30,
    };

    /// The limits in force now.
    pub fn current() -> Limits {
        let get = |i: usize| CURRENT[i].load(Ordering::Relaxed);
        Limits {
            max_tensor_elements: get(0),
            max_model_parameters: get(1),
            max_examples_per_client: get(2),
            max_message_bytes: get(3),
        }
    }

    /// Makes `self` the limits in force, and returns the previous ones.
    pub fn set(self) -> Limits {
        let old = Limits::current();
        let put = |i: usize, v: u64| CURRENT[i].store(v, Ordering::Relaxed);
        put(0, self.max_tensor_elements);
        put(1, self.max_model_parameters);
        put(2, self.max_examples_per_client);
        put(3, self.max_message_bytes);
        old
    }

    /// Checks `n` against the limit named `field` (one of this struct's
    /// field names).
    ///
    /// # Errors
    /// [`Error::Limit`] naming `op`, `what` and the limit when `n` is over it.
    pub fn check(&self, op: &'static str, field: LimitField, what: &str, n: u64) -> Result<u64> {
        self.check_with(op, field, &|| what.to_string(), n)
    }

    /// [`Limits::check`] with the description made only when the check
    /// fails (for checks on every message: no formatting when it passes).
    ///
    /// # Errors
    /// As [`Limits::check`].
    pub fn check_with(
        &self,
        op: &'static str,
        field: LimitField,
        what: &dyn Fn() -> String,
        n: u64,
    ) -> Result<u64> {
        let limit = self.get(field);
        if n > limit {
            return Err(Error::Limit {
                op,
                what: what(),
                field: field.name(),
                limit,
                got: n.to_string(),
            });
        }
        Ok(n)
    }

    /// Checks the length of an encoded message, file or document (`what`,
    /// e.g. `"weights file"`) against [`Limits::max_message_bytes`]: the first
    /// check of every decoder, before it allocates anything.
    ///
    /// # Errors
    /// [`Error::Limit`] naming `op`, `what` and `max_message_bytes`.
    pub fn check_bytes(&self, op: &'static str, what: &str, len: usize) -> Result<()> {
        self.check_with(
            op,
            LimitField::MessageBytes,
            &|| format!("the size in bytes of {what}"),
            len as u64,
        )
        .map(drop)
    }

    /// The value of one field.
    pub fn get(&self, field: LimitField) -> u64 {
        match field {
            LimitField::TensorElements => self.max_tensor_elements,
            LimitField::ModelParameters => self.max_model_parameters,
            LimitField::ExamplesPerClient => self.max_examples_per_client,
            LimitField::MessageBytes => self.max_message_bytes,
        }
    }
}

/// Names one field of [`Limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitField {
    /// [`Limits::max_tensor_elements`].
    TensorElements,
    /// [`Limits::max_model_parameters`].
    ModelParameters,
    /// [`Limits::max_examples_per_client`].
    ExamplesPerClient,
    /// [`Limits::max_message_bytes`].
    MessageBytes,
}

impl LimitField {
    /// The field's name in [`Limits`].
    pub fn name(self) -> &'static str {
        match self {
            LimitField::TensorElements => "max_tensor_elements",
            LimitField::ModelParameters => "max_model_parameters",
            LimitField::ExamplesPerClient => "max_examples_per_client",
            LimitField::MessageBytes => "max_message_bytes",
        }
    }
}

/// The product of `dims`, checked for overflow and against
/// `field`'s limit in [`Limits::current`] (the element count of a shape, the
/// size of a GEMM operand, ..).
///
/// # Errors
/// [`Error::Limit`] (with `got: "overflow"` when the product does not fit in
/// 64 bits, or in `usize` on 32-bit targets).
pub fn checked_product(
    op: &'static str,
    field: LimitField,
    what: impl Fn() -> String,
    dims: impl IntoIterator<Item = usize>,
) -> Result<usize> {
    // One copy of the body for all callers (the aggregator's wasm size).
    product(op, field, &what, &mut dims.into_iter())
}

fn product(
    op: &'static str,
    field: LimitField,
    what: &dyn Fn() -> String,
    dims: &mut dyn Iterator<Item = usize>,
) -> Result<usize> {
    let limits = Limits::current();
    let mut n: u64 = 1;
    for d in dims {
        match n.checked_mul(d as u64) {
            Some(m) => n = m,
            None => {
                return Err(Error::Limit {
                    op,
                    what: what(),
                    field: field.name(),
                    limit: limits.get(field),
                    got: "overflow".into(),
                })
            }
        }
    }
    // The description is formatted only for an error: this check runs for
    // every tensor made, and formatting a shape costs more than the work of
    // a small tensor.
    if n > limits.get(field) {
        limits.check(op, field, &what(), n)?;
    }
    usize::try_from(n).map_err(|_| Error::Limit {
        op,
        what: what(),
        field: field.name(),
        limit: limits.get(field),
        got: format!("{n} (over usize::MAX on this target)"),
    })
}

/// The element count of a tensor of `shape` (1 for a scalar `[]`),
/// checked against [`Limits::max_tensor_elements`] in [`Limits::current`].
///
/// Zero dimensions count as one in the check, so an empty tensor cannot
/// carry dimensions whose product overflows or exceeds the limit either:
/// every partial product of a shape that passes (rows, columns, strides) is
/// within the limit.
///
/// # Errors
/// [`Error::Limit`] (`got: "overflow"` when the product does not fit in 64
/// bits) naming `op` and the shape.
pub fn tensor_elements(op: &'static str, shape: &[usize]) -> Result<usize> {
    let what = || {
        if shape.contains(&0) {
            format!("elements of a tensor of shape {shape:?} (zero dimensions counted as 1)")
        } else {
            format!("elements of a tensor of shape {shape:?}")
        }
    };
    checked_product(
        op,
        LimitField::TensorElements,
        what,
        shape.iter().map(|&d| d.max(1)),
    )?;
    // No overflow: at most the product just checked.
    Ok(shape.iter().product())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_overflow_and_limits_are_errors() {
        let what = || "elements".to_string();
        let f = LimitField::TensorElements;
        assert_eq!(checked_product("t", f, what, [2, 3, 4]).unwrap(), 24);
        assert_eq!(checked_product("t", f, what, []).unwrap(), 1);
        let e = checked_product("t", f, what, [1 << 32, 1 << 32]).unwrap_err();
        assert_eq!(e.code(), "limit");
        assert!(e.to_string().contains("overflow"), "{e}");
        let e = checked_product("t", f, what, [1 << 20, 1 << 20]).unwrap_err();
        assert!(e.to_string().contains("max_tensor_elements"), "{e}");
    }

    #[test]
    fn tensor_elements_counts_zero_dimensions_as_one() {
        assert_eq!(tensor_elements("t", &[2, 0, 3]).unwrap(), 0);
        assert_eq!(tensor_elements("t", &[]).unwrap(), 1);
        assert_eq!(tensor_elements("t", &[4, 5]).unwrap(), 20);
        let e = tensor_elements("t", &[0, 1 << 40]).unwrap_err();
        assert_eq!(e.code(), "limit");
        assert!(e.to_string().contains("zero dimensions"), "{e}");
        let e = tensor_elements("t", &[1 << 32, 1 << 32, 0]).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
    }

    #[test]
    fn check_bytes_names_the_field_and_the_document() {
        let limits = Limits {
            max_message_bytes: 10,
            ..Limits::DEFAULT
        };
        assert!(limits.check_bytes("decode", "a weights file", 10).is_ok());
        let e = limits
            .check_bytes("decode", "a weights file", 11)
            .unwrap_err();
        assert_eq!(e.code(), "limit");
        let m = e.to_string();
        assert!(
            m.contains("max_message_bytes") && m.contains("a weights file") && m.contains("11"),
            "{m}"
        );
    }
}
