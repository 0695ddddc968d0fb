//! Gradients of variables: dense tensors, or the touched rows of a table.
//!
//! # Layout
//! A [`Gradient`] of a variable of shape `[v, k]` is either
//! * [`Gradient::Dense`]: a backend tensor `[v, k]` (any shape, in general);
//! * [`Gradient::Rows`]: a [`RowGradient`], the gradient of an embedding
//!   table, which is zero outside the rows a batch looked up. It holds
//!   - `rows`: the touched row ids, **unique and strictly ascending**, on the
//!     host (`u32`; ids come from host batches, so no read-back is needed);
//!   - `values`: a backend tensor `[rows.len(), k]`; `values[j]` is the
//!     gradient of row `rows[j]`, with the contributions of every lookup of
//!     that row summed.
//!
//!   The dense equivalent is `dense[rows[j]] = values[j]` and zero elsewhere
//!   ([`RowGradient::to_dense`]).
//!
//! A [`RowSegments`] is the host-side plan that turns the `[n, k]` gradient of
//! `n` lookups into a `RowGradient` without atomics: positions grouped by row,
//! so a device kernel sums each unique row's contributions with one thread per
//! (unique row, column), in a fixed order (see
//! [`crate::backend::Backend::gather_rows_backward`]).

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::tensor::{Precision, Tensor};

/// The gradient of one variable. See the module docs for the layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Gradient {
    /// A backend tensor shaped like the variable.
    Dense(Tensor),
    /// The touched rows of a `[v, k]` table; zero elsewhere.
    Rows(RowGradient),
}

impl From<Tensor> for Gradient {
    fn from(t: Tensor) -> Self {
        Gradient::Dense(t)
    }
}

impl From<RowGradient> for Gradient {
    fn from(r: RowGradient) -> Self {
        Gradient::Rows(r)
    }
}

impl Gradient {
    /// The shape of the variable this is the gradient of.
    pub fn shape(&self) -> &[usize] {
        match self {
            Gradient::Dense(t) => t.shape(),
            Gradient::Rows(r) => r.shape(),
        }
    }

    /// The precision of the gradient's values.
    pub fn precision(&self) -> Precision {
        match self {
            Gradient::Dense(t) => t.precision(),
            Gradient::Rows(r) => r.values.precision(),
        }
    }

    /// The dense tensor, if this is one.
    pub fn as_dense(&self) -> Option<&Tensor> {
        match self {
            Gradient::Dense(t) => Some(t),
            Gradient::Rows(_) => None,
        }
    }

    /// The gradient as a dense tensor on `b` (a copy of the rows scattered
    /// into zeros for [`Gradient::Rows`]).
    ///
    /// # Errors
    /// Whatever the backend reports.
    pub fn into_dense(self, b: &dyn Backend) -> Result<Tensor> {
        match self {
            Gradient::Dense(t) => Ok(t),
            Gradient::Rows(r) => r.to_dense(b),
        }
    }
}

/// The gradient of a `[num_rows, k]` table, nonzero only in `rows`. See the
/// module docs for the layout.
#[derive(Clone, Debug, PartialEq)]
pub struct RowGradient {
    shape: [usize; 2],
    rows: Vec<u32>,
    values: Tensor,
}

impl RowGradient {
    /// The gradient of a `[num_rows, k]` table whose row `rows[j]` has
    /// gradient `values[j]` (`values` is `[rows.len(), k]`), zero elsewhere.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `rows` is not strictly ascending or has an
    /// id `>= num_rows`; [`Error::Shape`] if `values` is not `[rows.len(), k]`.
    pub fn new(num_rows: usize, rows: Vec<u32>, values: Tensor) -> Result<Self> {
        const OP: &str = "RowGradient::new";
        let k = match *values.shape() {
            [n, k] if n == rows.len() => k,
            _ => {
                return Err(Error::shape(
                    OP,
                    format!("values of shape [{}, k]", rows.len()),
                    values.shape(),
                ))
            }
        };
        if let Some(w) = rows.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::invalid(
                OP,
                format!(
                    "row ids must be strictly ascending; {} is followed by {}",
                    rows[w],
                    rows[w + 1]
                ),
            ));
        }
        if let Some(&last) = rows.last() {
            if last as usize >= num_rows {
                return Err(Error::invalid(
                    OP,
                    format!("row id {last} is not in 0..{num_rows}"),
                ));
            }
        }
        Ok(RowGradient {
            shape: [num_rows, k],
            rows,
            values,
        })
    }

    /// The table's shape `[num_rows, k]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The touched rows, strictly ascending.
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// `[rows().len(), k]`: the gradient of each touched row.
    pub fn values(&self) -> &Tensor {
        &self.values
    }

    /// The dense `[num_rows, k]` gradient on `b`: zeros with the touched rows
    /// filled in ([`Backend::scatter_add_rows`] of the values).
    ///
    /// # Errors
    /// Whatever the backend reports.
    pub fn to_dense(&self, b: &dyn Backend) -> Result<Tensor> {
        let ids: Vec<f32> = self.rows.iter().map(|&r| r as f32).collect();
        let ids = b.upload(&[ids.len()], &ids)?;
        b.scatter_add_rows(&self.values, &ids, self.shape[0])
    }
}

/// Positions of `n` lookups grouped by the row they looked up: the host-side
/// plan of a segment sum (see the module docs).
///
/// For unique row `j`, `rows[j]` is its id and
/// `positions[offsets[j]..offsets[j + 1]]` are the lookups of it, ascending.
/// `rows` is strictly ascending; `offsets` has `rows.len() + 1` entries,
/// starting at 0 and ending at `n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowSegments {
    /// Unique row ids, strictly ascending.
    pub rows: Vec<u32>,
    /// Segment bounds into `positions`, `rows.len() + 1` entries.
    pub offsets: Vec<u32>,
    /// Lookup positions `0..n`, grouped by row, ascending within a row.
    pub positions: Vec<u32>,
}

impl RowSegments {
    /// The plan for lookups of `ids` in a table of `num_rows` rows.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if an id is `>= num_rows`, or there are
    /// 2^32 or more lookups or rows.
    pub fn new(ids: &[usize], num_rows: usize) -> Result<Self> {
        const OP: &str = "RowSegments::new";
        if ids.len() > u32::MAX as usize || num_rows > u32::MAX as usize {
            return Err(Error::invalid(OP, "at most 2^32 - 1 lookups and rows"));
        }
        if let Some(p) = ids.iter().position(|&i| i >= num_rows) {
            return Err(Error::invalid(
                OP,
                format!("id {} at position {p} is not in 0..{num_rows}", ids[p]),
            ));
        }
        // Sort (id, position) keys: ties cannot happen, so this is deterministic.
        let mut keys: Vec<u64> = ids
            .iter()
            .enumerate()
            .map(|(p, &i)| ((i as u64) << 32) | p as u64)
            .collect();
        keys.sort_unstable();
        let mut rows = Vec::new();
        let mut offsets = Vec::new();
        let mut positions = Vec::with_capacity(keys.len());
        for (p, key) in keys.iter().enumerate() {
            let id = (key >> 32) as u32;
            if rows.last() != Some(&id) {
                rows.push(id);
                offsets.push(p as u32);
            }
            positions.push(*key as u32);
        }
        offsets.push(keys.len() as u32);
        Ok(RowSegments {
            rows,
            offsets,
            positions,
        })
    }

    /// Number of unique rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there were no lookups.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The lookup positions of unique row `j`.
    pub fn segment(&self, j: usize) -> &[u32] {
        &self.positions[self.offsets[j] as usize..self.offsets[j + 1] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_group_positions_by_row() {
        // ids 3 1 3 0 1 3: row 0 at [3], row 1 at [1, 4], row 3 at [0, 2, 5].
        let s = RowSegments::new(&[3, 1, 3, 0, 1, 3], 4).unwrap();
        assert_eq!(s.rows, vec![0, 1, 3]);
        assert_eq!(s.offsets, vec![0, 1, 3, 6]);
        assert_eq!(s.segment(0), &[3]);
        assert_eq!(s.segment(1), &[1, 4]);
        assert_eq!(s.segment(2), &[0, 2, 5]);
        let empty = RowSegments::new(&[], 4).unwrap();
        assert!(empty.is_empty() && empty.offsets == vec![0]);
        let err = RowSegments::new(&[1, 4], 4).unwrap_err();
        assert!(err.to_string().contains("id 4 at position 1"), "{err}");
    }

    #[test]
    fn row_gradient_checks_its_parts() {
        let v = |n: usize| Tensor::new(&[n, 2], vec![1.0; 2 * n]).unwrap();
        let g = RowGradient::new(5, vec![0, 4], v(2)).unwrap();
        assert_eq!(g.shape(), &[5, 2]);
        assert!(RowGradient::new(5, vec![4, 0], v(2)).is_err());
        assert!(RowGradient::new(5, vec![1, 1], v(2)).is_err());
        assert!(RowGradient::new(4, vec![0, 4], v(2)).is_err());
        let err = RowGradient::new(5, vec![0, 4], v(3)).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
    }

    #[test]
    fn to_dense_scatters_the_rows() {
        let b = crate::backend::CpuBackend::new();
        let values = Tensor::new(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let g = Gradient::from(RowGradient::new(3, vec![0, 2], values).unwrap());
        assert_eq!(g.shape(), &[3, 2]);
        let d = g.into_dense(&b).unwrap();
        assert_eq!(d.as_f32().unwrap(), &[1.0, 2.0, 0.0, 0.0, 3.0, 4.0]);
    }
}
