//! A lazy, deterministic input pipeline in the style of `tf.data`.
//!
//! # Design
//! A [`Dataset`] is an immutable description: a shared source
//! (`Arc<Examples>`) plus a list of operations (`repeat`, `shuffle`, `take`,
//! `skip`, `shard`, `map`, and at most one `batch`). Builder methods copy the
//! (short) list and append; the examples are never copied.
//!
//! Iterating runs the operations on **example indices**, not on examples:
//! before `batch` the pipeline yields `usize` positions into the source, after
//! `batch` it yields lists of positions (one per batch). Only at the very end
//! are the feature rows gathered, straight into the batch buffer, so the hot
//! path does no per-example heap allocation (one `x` and one `y` buffer per
//! batch). `map` functions are pure, so they commute with every structural
//! operation; they are applied, in order, to each example as it is gathered.
//! A `map` placed after `batch` still acts on single examples.
//!
//! Iterators ([`Batches`], [`ExampleIter`]) own what they need (they hold
//! `Arc`s, not borrows), so they can be kept across `await` points; a
//! `Dataset` is `Send + Sync` and its iterators are `Send`.
//!
//! Operations after `batch` act on batches: `take(3)` keeps three batches,
//! `shuffle` permutes batches, `repeat` repeats the batched stream.
//!
//! # Determinism and reshuffling
//! `shuffle(buffer_size, seed)` is `tf.data`'s buffered shuffle: a buffer is
//! filled with the first `buffer_size` elements; then, repeatedly, a uniformly
//! random slot is emitted and refilled with the next input element; when the
//! input ends the buffer drains in random order. A buffer of 1 is the identity;
//! a buffer at least as large as the input is a uniform permutation.
//!
//! Every pass of an enclosing `repeat` opens its upstream afresh with a
//! different key, and a shuffle's generator is `Rng::derive(seed, key)`, so each
//! epoch is shuffled differently (`reshuffle_each_iteration`) but the whole
//! stream depends only on the seeds. Iterating the same `Dataset` twice from
//! scratch yields the same sequence. In particular `shard(2, 0)` and
//! `shard(2, 1)` of the same shuffled dataset see the same order and are
//! disjoint (unless each is repeated: later passes reshuffle).
//!
//! # Errors
//! Builder methods never fail, so pipelines chain like `tf.data`. A misuse
//! (batching twice, a batch size, shuffle buffer or shard count of zero, a
//! shard index out of range) is remembered and reported as [`Error::Dataset`]
//! by [`Dataset::check`], [`Dataset::batches`] and [`Dataset::examples`].

use std::sync::Arc;

use super::element::{Batch, ElementSpec, Examples};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::{checked_numel, Tensor};

/// A per-example map: `(x, y) -> (new_x, new_y)`.
pub type MapFn = dyn Fn(&[f32], f32) -> Result<(Vec<f32>, f32)> + Send + Sync;

#[derive(Clone)]
enum Op {
    Repeat(usize),
    Shuffle { buffer: usize, seed: u64 },
    Take(usize),
    Skip(usize),
    Shard { num: usize, index: usize },
    Batch { size: usize, drop_remainder: bool },
    Map(MapStep),
}

#[derive(Clone)]
struct MapStep {
    /// The spec of the map's output.
    spec: ElementSpec,
    f: Arc<MapFn>,
}

/// A lazy pipeline over a shared set of examples. See the module docs.
#[derive(Clone)]
pub struct Dataset {
    source: Arc<Examples>,
    ops: Arc<[Op]>,
    /// Per-example spec after all maps.
    spec: ElementSpec,
    /// The first misuse, reported when iterating.
    invalid: Option<(&'static str, String)>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("examples", &self.source.len())
            .field("spec", &self.spec)
            .field("ops", &self.ops.len())
            .field("cardinality", &self.cardinality())
            .finish()
    }
}

impl Dataset {
    /// The examples in order, unbatched.
    pub fn from_examples(examples: Examples) -> Self {
        Self::from_arc(Arc::new(examples))
    }

    /// The shared examples in order, unbatched (no copy).
    pub fn from_arc(examples: Arc<Examples>) -> Self {
        let spec = examples.spec().clone();
        Dataset {
            source: examples,
            ops: Arc::from(Vec::new()),
            spec,
            invalid: None,
        }
    }

    /// The source examples.
    pub fn source(&self) -> &Arc<Examples> {
        &self.source
    }

    /// The spec of one example (after any `map`); batches stack it.
    pub fn element_spec(&self) -> &ElementSpec {
        &self.spec
    }

    /// The batch size and `drop_remainder`, if the dataset is batched.
    pub fn batching(&self) -> Option<(usize, bool)> {
        self.ops.iter().find_map(|op| match op {
            Op::Batch {
                size,
                drop_remainder,
            } => Some((*size, *drop_remainder)),
            _ => None,
        })
    }

    /// True once `batch` was applied.
    pub fn is_batched(&self) -> bool {
        self.batching().is_some()
    }

    fn with(&self, op: Op) -> Dataset {
        let mut ops = self.ops.to_vec();
        ops.push(op);
        Dataset {
            source: self.source.clone(),
            ops: Arc::from(ops),
            spec: self.spec.clone(),
            invalid: self.invalid.clone(),
        }
    }

    fn invalid_if(mut self, bad: bool, op: &'static str, detail: impl FnOnce() -> String) -> Self {
        if bad && self.invalid.is_none() {
            self.invalid = Some((op, detail()));
        }
        self
    }

    /// The stream `count` times over (`0` gives nothing). Each pass reshuffles
    /// any upstream `shuffle` differently.
    pub fn repeat(&self, count: usize) -> Dataset {
        self.with(Op::Repeat(count))
    }

    /// Buffered shuffle with a buffer of `buffer_size` elements (examples, or
    /// batches after `batch`), seeded. See the module docs.
    pub fn shuffle(&self, buffer_size: usize, seed: u64) -> Dataset {
        self.with(Op::Shuffle {
            buffer: buffer_size,
            seed,
        })
        .invalid_if(buffer_size == 0, "shuffle", || {
            "buffer_size must be at least 1".into()
        })
    }

    /// Groups consecutive examples into batches of `size`; the last batch is
    /// smaller unless `drop_remainder`. Batching twice is an error.
    pub fn batch(&self, size: usize, drop_remainder: bool) -> Dataset {
        let previous = self.batching();
        self.with(Op::Batch {
            size,
            drop_remainder,
        })
        .invalid_if(size == 0, "batch", || {
            "batch size must be at least 1".into()
        })
        .invalid_if(previous.is_some(), "batch", || {
            format!(
                "dataset is already batched (batch size {}); batch only once",
                previous.map_or(0, |p| p.0)
            )
        })
    }

    /// The first `n` elements.
    pub fn take(&self, n: usize) -> Dataset {
        self.with(Op::Take(n))
    }

    /// All but the first `n` elements.
    pub fn skip(&self, n: usize) -> Dataset {
        self.with(Op::Skip(n))
    }

    /// The elements at positions `i` with `i % num_shards == index`.
    pub fn shard(&self, num_shards: usize, index: usize) -> Dataset {
        self.with(Op::Shard {
            num: num_shards,
            index,
        })
        .invalid_if(num_shards == 0, "shard", || {
            "num_shards must be at least 1".into()
        })
        .invalid_if(index >= num_shards, "shard", || {
            format!("index {index} is not below num_shards {num_shards}")
        })
    }

    /// Applies `f` to every example; its output features must have
    /// `prod(new_x_shape)` values and its labels must fit the label spec
    /// (checked while iterating). The label spec is unchanged.
    pub fn map<F>(&self, new_x_shape: Vec<usize>, f: F) -> Dataset
    where
        F: Fn(&[f32], f32) -> Result<(Vec<f32>, f32)> + Send + Sync + 'static,
    {
        let spec = ElementSpec::new(new_x_shape, self.spec.label.clone());
        let mut ds = self.with(Op::Map(MapStep {
            spec: spec.clone(),
            f: Arc::new(f),
        }));
        ds.spec = spec;
        ds
    }

    /// Reports the first misuse of the builder methods, if any.
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the operation.
    pub fn check(&self) -> Result<()> {
        match &self.invalid {
            Some((op, detail)) => Err(Error::Dataset {
                op,
                detail: detail.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Number of elements (batches once batched) the dataset yields, computed
    /// from the operations without iterating; `None` on overflow.
    pub fn cardinality(&self) -> Option<usize> {
        let mut n = self.source.len();
        for op in self.ops.iter() {
            n = match *op {
                Op::Repeat(c) => n.checked_mul(c)?,
                Op::Take(k) => n.min(k),
                Op::Skip(k) => n.saturating_sub(k),
                Op::Shard { num, index } if num > 0 => {
                    if n > index {
                        (n - index).div_ceil(num)
                    } else {
                        0
                    }
                }
                Op::Batch {
                    size,
                    drop_remainder,
                } if size > 0 => {
                    if drop_remainder {
                        n / size
                    } else {
                        n.div_ceil(size)
                    }
                }
                _ => n,
            };
        }
        Some(n)
    }

    fn maps(&self) -> Arc<[MapStep]> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::Map(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// Iterates the batches.
    ///
    /// # Errors
    /// [`Error::Dataset`] if the dataset was never batched or was misbuilt;
    /// [`Error::Limit`] if its largest batch would be a tensor over
    /// [`max_tensor_elements`](crate::limits::Limits::max_tensor_elements);
    /// each item is an error if a `map` fails or returns the wrong length.
    pub fn batches(&self) -> Result<Batches> {
        self.check()?;
        let batch_pos = self
            .ops
            .iter()
            .position(|op| matches!(op, Op::Batch { .. }))
            .ok_or_else(|| Error::Dataset {
                op: "batches",
                detail: "the dataset is not batched; call batch(size, drop_remainder) first".into(),
            })?;
        let (size, drop_remainder) = match self.ops[batch_pos] {
            Op::Batch {
                size,
                drop_remainder,
            } => (size, drop_remainder),
            _ => (1, false),
        };
        // The largest batch this pipeline can make is one tensor: within the
        // limits before any is gathered (a batch size from a task, over a
        // repeated dataset, would otherwise gather past them).
        let reachable = self.ops[..batch_pos]
            .iter()
            .fold(self.source.len(), |n, op| match op {
                Op::Repeat(count) => n.saturating_mul(*count),
                Op::Take(count) => n.min(*count),
                _ => n,
            });
        let mut largest = vec![size.min(reachable)];
        largest.extend_from_slice(&self.spec.x_shape);
        checked_numel("Dataset::batches", &largest)
            .map_err(|e| e.in_context(format_args!("a batch of {size} examples")))?;
        let base = BatchSource {
            ops: self.ops.clone(),
            pre_end: batch_pos,
            n: self.source.len(),
            size,
            drop_remainder,
        };
        let inner = build(&self.ops, batch_pos + 1, self.ops.len(), 0, &base);
        Ok(Batches {
            inner,
            gather: Gather::new(self),
        })
    }

    /// Iterates the examples as owned `(x, y)` pairs.
    ///
    /// # Errors
    /// [`Error::Dataset`] if the dataset is batched or was misbuilt; each item
    /// is an error if a `map` fails or returns the wrong length.
    pub fn examples(&self) -> Result<ExampleIter> {
        self.check()?;
        if let Some((size, _)) = self.batching() {
            return Err(Error::Dataset {
                op: "examples",
                detail: format!("the dataset is batched (batch size {size}); use batches()"),
            });
        }
        let inner = build(&self.ops, 0, self.ops.len(), 0, &Indices(self.source.len()));
        Ok(ExampleIter {
            inner,
            gather: Gather::new(self),
        })
    }
}

/// Gathers examples by index, applying the maps.
struct Gather {
    source: Arc<Examples>,
    maps: Arc<[MapStep]>,
    x_shape: Vec<usize>,
}

impl Gather {
    fn new(ds: &Dataset) -> Self {
        Gather {
            source: ds.source.clone(),
            maps: ds.maps(),
            x_shape: ds.spec.x_shape.clone(),
        }
    }

    /// Appends example `i` (after the maps) to `x` and `y`.
    fn push(&self, i: usize, x: &mut Vec<f32>, y: &mut Vec<f32>) -> Result<()> {
        let (row, label) = (self.source.x_of(i), self.source.y_of(i));
        if self.maps.is_empty() {
            x.extend_from_slice(row);
            y.push(label);
            return Ok(());
        }
        let (row, label) = self.apply(i, row, label)?;
        x.extend_from_slice(&row);
        y.push(label);
        Ok(())
    }

    fn apply(&self, i: usize, row: &[f32], label: f32) -> Result<(Vec<f32>, f32)> {
        let mut cur: Option<Vec<f32>> = None;
        let mut label = label;
        for (k, m) in self.maps.iter().enumerate() {
            let (nx, ny) = (m.f)(cur.as_deref().unwrap_or(row), label)?;
            if nx.len() != m.spec.x_len() {
                return Err(Error::Dataset {
                    op: "map",
                    detail: format!(
                        "map #{k} returned {} feature values for example {i}, expected {} (shape {:?})",
                        nx.len(),
                        m.spec.x_len(),
                        m.spec.x_shape
                    ),
                });
            }
            m.spec.check_label(ny).map_err(|d| Error::Dataset {
                op: "map",
                detail: format!("map #{k} on example {i}: {d}"),
            })?;
            cur = Some(nx);
            label = ny;
        }
        Ok((cur.unwrap_or_else(|| row.to_vec()), label))
    }
}

/// Iterator over the batches of a [`Dataset`]; owns what it needs.
pub struct Batches {
    inner: DynIter<Vec<usize>>,
    gather: Gather,
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let idx = self.inner.next()?;
        let b = idx.len();
        // A batch is one tensor: checked before its buffer is reserved (a
        // huge batch size over a repeated dataset gathers past any limit).
        let mut shape = Vec::with_capacity(1 + self.gather.x_shape.len());
        shape.push(b);
        shape.extend_from_slice(&self.gather.x_shape);
        let len = match checked_numel("Dataset::batch", &shape) {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        let mut x = Vec::with_capacity(len);
        let mut y = Vec::with_capacity(b);
        for &i in &idx {
            if let Err(e) = self.gather.push(i, &mut x, &mut y) {
                return Some(Err(e));
            }
        }
        Some(Tensor::new(&shape, x).and_then(|x| {
            Ok(Batch {
                x,
                y: Tensor::new(&[b], y)?,
            })
        }))
    }
}

/// Iterator over the examples of an unbatched [`Dataset`]; owns what it needs.
pub struct ExampleIter {
    inner: DynIter<usize>,
    gather: Gather,
}

impl Iterator for ExampleIter {
    type Item = Result<(Vec<f32>, f32)>;

    fn next(&mut self) -> Option<Self::Item> {
        let i = self.inner.next()?;
        let src = &self.gather.source;
        if self.gather.maps.is_empty() {
            return Some(Ok((src.x_of(i).to_vec(), src.y_of(i))));
        }
        Some(self.gather.apply(i, src.x_of(i), src.y_of(i)))
    }
}

// ---- the index pipeline ----

type DynIter<T> = Box<dyn Iterator<Item = T> + Send>;

/// Where a stage's elements come from, re-openable with a key.
trait Source<T>: Clone + Send + 'static {
    fn open(&self, key: u64) -> DynIter<T>;
}

#[derive(Clone)]
struct Indices(usize);

impl Source<usize> for Indices {
    fn open(&self, _key: u64) -> DynIter<usize> {
        Box::new(0..self.0)
    }
}

#[derive(Clone)]
struct BatchSource {
    ops: Arc<[Op]>,
    pre_end: usize,
    n: usize,
    size: usize,
    drop_remainder: bool,
}

impl Source<Vec<usize>> for BatchSource {
    fn open(&self, key: u64) -> DynIter<Vec<usize>> {
        Box::new(Chunks {
            inner: build(&self.ops, 0, self.pre_end, key, &Indices(self.n)),
            size: self.size,
            drop_remainder: self.drop_remainder,
        })
    }
}

/// Mixes a key with an operation position and a pass number.
fn mix(key: u64, pos: usize, pass: usize) -> u64 {
    let mut z = key
        ^ (pos as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (pass as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The iterator for `ops[start..end]` applied to `base`, under `key`.
fn build<T: Send + 'static, S: Source<T>>(
    ops: &Arc<[Op]>,
    start: usize,
    end: usize,
    key: u64,
    base: &S,
) -> DynIter<T> {
    if end <= start {
        return base.open(key);
    }
    let pos = end - 1;
    match &ops[pos] {
        Op::Repeat(count) => {
            let (ops, base) = (ops.clone(), base.clone());
            Box::new(Repeat {
                count: *count,
                pass: 0,
                current: None,
                open: Box::new(move |pass| build(&ops, start, pos, mix(key, pos, pass), &base)),
            })
        }
        Op::Shuffle { buffer, seed } => Box::new(Shuffle {
            inner: build(ops, start, pos, key, base),
            buffer_size: *buffer,
            buffer: Vec::new(),
            filled: false,
            rng: Rng::derive(*seed, mix(key, pos, 0)),
        }),
        Op::Take(n) => Box::new(build(ops, start, pos, key, base).take(*n)),
        Op::Skip(n) => Box::new(build(ops, start, pos, key, base).skip(*n)),
        Op::Shard { num, index } => Box::new(
            build(ops, start, pos, key, base)
                .skip(*index)
                .step_by((*num).max(1)),
        ),
        // Batch is handled by BatchSource; maps act at gather time.
        Op::Batch { .. } | Op::Map(_) => build(ops, start, pos, key, base),
    }
}

struct Repeat<T> {
    count: usize,
    pass: usize,
    current: Option<DynIter<T>>,
    open: Box<dyn Fn(usize) -> DynIter<T> + Send>,
}

impl<T> Iterator for Repeat<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(v) = self.current.as_mut().and_then(|it| it.next()) {
                return Some(v);
            }
            if self.pass >= self.count {
                self.current = None;
                return None;
            }
            self.current = Some((self.open)(self.pass));
            self.pass += 1;
        }
    }
}

struct Shuffle<T> {
    inner: DynIter<T>,
    buffer_size: usize,
    buffer: Vec<T>,
    filled: bool,
    rng: Rng,
}

impl<T> Iterator for Shuffle<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if !self.filled {
            self.filled = true;
            self.buffer.reserve(self.buffer_size.min(1 << 16));
            while self.buffer.len() < self.buffer_size {
                match self.inner.next() {
                    Some(v) => self.buffer.push(v),
                    None => break,
                }
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let j = self.rng.below(self.buffer.len() as u64) as usize;
        match self.inner.next() {
            Some(v) => Some(std::mem::replace(&mut self.buffer[j], v)),
            None => Some(self.buffer.swap_remove(j)),
        }
    }
}

struct Chunks {
    inner: DynIter<usize>,
    size: usize,
    drop_remainder: bool,
}

impl Iterator for Chunks {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        // The size is a parameter (one day a server's): reserve what is
        // likely, grow for the rest.
        let mut v = Vec::with_capacity(self.size.min(1 << 12));
        while v.len() < self.size {
            match self.inner.next() {
                Some(i) => v.push(i),
                None => break,
            }
        }
        if v.is_empty() || (self.drop_remainder && v.len() < self.size) {
            None
        } else {
            Some(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::LabelSpec;

    fn range(n: usize) -> Dataset {
        let spec = ElementSpec::new(vec![2], LabelSpec::Real);
        let x = (0..n).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let y = (0..n).map(|i| i as f32).collect();
        Dataset::from_examples(Examples::new(spec, x, y).unwrap())
    }

    fn ids(ds: &Dataset) -> Vec<usize> {
        ds.examples()
            .unwrap()
            .map(|e| e.unwrap().1 as usize)
            .collect()
    }

    #[test]
    fn reshuffles_each_epoch_but_reproducibly() {
        let ds = range(10).shuffle(10, 3).repeat(2);
        let v = ids(&ds);
        assert_eq!(v, ids(&ds));
        assert_ne!(v[..10], v[10..]);
        let mut a = v[..10].to_vec();
        a.sort();
        assert_eq!(a, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn map_changes_shape_and_is_checked() {
        let ds = range(4).map(vec![1], |x, y| Ok((vec![x[0] + x[1] + 1.0], y)));
        assert_eq!(ds.element_spec().x_shape, vec![1]);
        let b: Vec<Batch> = ds
            .batch(3, false)
            .batches()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        assert_eq!(b[0].x.shape(), &[3, 1]);
        assert_eq!(b[0].x.as_f32().unwrap(), &[1.0, 1.0, 1.0]);
        let bad = range(4).map(vec![3], |x, y| Ok((x.to_vec(), y)));
        let err = bad.examples().unwrap().next().unwrap().unwrap_err();
        assert!(err.to_string().contains("map"), "{err}");
    }

    #[test]
    fn misuse_is_reported() {
        let ds = range(4).batch(2, false).batch(2, false);
        assert!(matches!(
            ds.batches(),
            Err(Error::Dataset { op: "batch", .. })
        ));
        assert!(range(4).examples().is_ok());
        assert!(range(4).batches().is_err());
        assert!(range(4).batch(2, false).examples().is_err());
        assert!(range(4).shard(2, 2).check().is_err());
        assert!(range(4).shuffle(0, 1).check().is_err());
    }

    #[test]
    fn pipelines_can_move_between_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let ds = range(4).shuffle(4, 1).repeat(2).batch(2, false);
        send_sync(&ds);
        send(&ds.batches().unwrap());
        send(&range(4).examples().unwrap());
    }

    #[test]
    fn cardinality_matches_iteration() {
        let ds = range(23)
            .repeat(3)
            .skip(2)
            .shard(3, 1)
            .batch(4, false)
            .take(100);
        let n = ds.batches().unwrap().count();
        assert_eq!(ds.cardinality(), Some(n));
    }
}
