//! Binary encodings of the protocol's messages and of checkpoints:
//! versioned, checksummed, about the size of their floats, with every `f32`
//! array 4-byte aligned so that JavaScript can view it as a `Float32Array`
//! without copying. They extend the weights file format (`FWWT`, version 1
//! in `fedwasm::model::weights`), whose version 2 is the tensor list below.
//!
//! # Byte layout
//! All integers and floats are little-endian. Offsets are from the start of
//! the message, which should start its own `ArrayBuffer` (or any 4-aligned
//! offset) for the alignment guarantee to hold.
//!
//! ```text
//! message  = magic[4] version:u32 body crc:u32
//! ```
//! * `magic`: `FWTK` task, `FWUP` update, `FWCS` client state, `FWCK`
//!   checkpoint, `FWWT` weights;
//! * `version`: 2 (the only version of `FWTK`, `FWUP`, `FWCS`, `FWCK`; `FWWT`
//!   readers also take version 1);
//! * `crc`: IEEE CRC-32 ([`crate::checksum::crc32`]) of every byte before it.
//!
//! Every field of a body is a whole number of 4-byte words, so every field,
//! and in particular every `f32` array, starts at a multiple of 4:
//!
//! ```text
//! u64       = 8 bytes
//! f64       = 8 bytes (IEEE binary64)
//! text      = len:u32 utf8[len] zero[pad]          pad = (4 - len % 4) % 4
//! json      = text holding one JSON value (UTF-8, no BOM)
//! tensor    = name:text rank:u32 dim:u32[rank] data:f32[product of dims]
//! tensors   = count:u32 tensor[count]
//! metrics   = count:u32 { name:text len:u32 f64[len] }[count]
//! ```
//! (`metrics` carries unfinalized metric sums, NaN and infinities included:
//! a diverged client's loss travels as it is.)
//!
//! Bodies:
//!
//! | magic | body |
//! |---|---|
//! | `FWTK` | `round_id:u64 model_fingerprint:u64 client_key:u64 seed:u64 config:json trainable:tensors non_trainable:tensors` with `config = {"work", "weighting", "plan"}` ([`ClientTask`]) |
//! | `FWUP` | `round_id:u64 model_fingerprint:u64 client_key:u64 weight:f64 flags:u32 reserved:u32 metrics:metrics update:tensors`; `flags` bit 0 = `non_finite`, other bits and `reserved` 0 ([`ClientUpdate`]) |
//! | `FWCS` | `index:u64 local_weights:tensors` ([`ClientState`]) |
//! | `FWCK` | `header:json trainable:tensors non_trainable:tensors slots:tensors [current:metrics total:metrics]` ([`LearningProcessState`]): `header = {"distributor", "aggregator", "evaluation", "finalizer": {"round", "server_optimizer": null or {"optimizer", "step", "round", "shapes", "slots_per_variable"}}}`; `slots` holds variable `i`'s slot `j` at position `i * slots_per_variable + j`, named `"<variable>/slot<j>"`; the two metrics blocks (an evaluation process's `client_work.eval` sums: this round's, all rounds') are present exactly when `evaluation` is `true` |
//! | `FWWT` | `variables:tensors` ([`WeightsSnapshot`]) |
//!
//! # Reading untrusted bytes
//! A reader checks, in order: the length against
//! [`Limits::max_message_bytes`](crate::limits::Limits), the magic, the
//! version, the CRC, then the body with a bounds-checked cursor. Every count
//! and length read is compared with the bytes that remain (and element
//! counts with [`Limits::max_tensor_elements`](crate::limits::Limits))
//! before anything is allocated; JSON parts refuse unknown fields; trailing
//! bytes are an error. Errors are [`Error::Binary`] (code `bad_data`) or
//! [`Error::Limit`] (code `limit`), naming the field.

use crate::aggregation::ClientWeighting;
use crate::checksum::crc32;
use crate::error::{Error, Result};
use crate::json::{obj, FromJson, Json, JsonError, ToJson};
use crate::limits::{tensor_elements, LimitField, Limits};
use crate::messages::{ClientState, ClientTask, ClientUpdate};
use crate::metrics::UnfinalizedMetrics;
use crate::model_weights::ModelWeights;
use crate::optim::{OptimizerState, SlotTensor};
use crate::plan::DatasetPlan;
use crate::state::{ClientWorkState, Empty, EvalState, FinalizerState, LearningProcessState};
use crate::weights::{NamedTensor, WeightsSnapshot};
use crate::work::ClientWork;

/// The version this module writes.
pub const VERSION: u32 = 2;

/// The kinds of message, by magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `FWTK`: a [`ClientTask`].
    Task,
    /// `FWUP`: a [`ClientUpdate`].
    Update,
    /// `FWCS`: a [`ClientState`].
    ClientState,
    /// `FWCK`: a [`LearningProcessState`] checkpoint.
    Checkpoint,
    /// `FWWT`: a [`WeightsSnapshot`] (version 2 here; version 1 is the
    /// engine's original weights file).
    Weights,
}

impl Kind {
    /// The four magic bytes.
    pub fn magic(self) -> &'static [u8; 4] {
        match self {
            Kind::Task => b"FWTK",
            Kind::Update => b"FWUP",
            Kind::ClientState => b"FWCS",
            Kind::Checkpoint => b"FWCK",
            Kind::Weights => b"FWWT",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Task => "client task",
            Kind::Update => "client update",
            Kind::ClientState => "client state",
            Kind::Checkpoint => "checkpoint",
            Kind::Weights => "fedwasm weights",
        }
    }

    /// The kind whose magic starts `bytes`, if any.
    pub fn of(bytes: &[u8]) -> Option<Kind> {
        [
            Kind::Task,
            Kind::Update,
            Kind::ClientState,
            Kind::Checkpoint,
            Kind::Weights,
        ]
        .into_iter()
        .find(|k| bytes.get(..4) == Some(&k.magic()[..]))
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Builds one message: header, fields, CRC.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new(kind: Kind, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + 12);
        out.extend_from_slice(kind.magic());
        out.extend_from_slice(&VERSION.to_le_bytes());
        Writer { out }
    }

    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn len(&mut self, n: usize) {
        // Lengths over u32::MAX cannot be written: messages are bounded by
        // the limits long before (and a reader would refuse them).
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn f64(&mut self, v: f64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn text(&mut self, s: &[u8]) {
        self.len(s.len());
        self.out.extend_from_slice(s);
        let pad = (4 - s.len() % 4) % 4;
        self.out.extend_from_slice(&[0; 3][..pad]);
    }

    fn json(&mut self, v: &Json) {
        let mut s = Vec::new();
        crate::json::write(v, &mut s);
        self.text(&s);
    }

    fn tensors<'t>(
        &mut self,
        ts: impl ExactSizeIterator<Item = (&'t str, &'t [usize], &'t [f32])>,
    ) {
        self.len(ts.len());
        for (name, shape, data) in ts {
            self.text(name.as_bytes());
            self.len(shape.len());
            for &d in shape {
                self.len(d);
            }
            for x in data {
                self.out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }

    fn metrics(&mut self, m: &UnfinalizedMetrics) {
        self.len(m.0.len());
        for (name, v) in &m.0 {
            self.text(name.as_bytes());
            self.len(v.len());
            for x in v {
                self.f64(*x);
            }
        }
    }

    fn named(&mut self, ts: &[NamedTensor]) {
        self.tensors(
            ts.iter()
                .map(|t| (t.name.as_str(), t.shape.as_slice(), t.data.as_slice())),
        );
    }

    fn finish(mut self) -> Vec<u8> {
        let crc = crc32(&self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}

fn floats(ts: &[NamedTensor]) -> usize {
    ts.iter()
        .map(|t| 16 + t.name.len() + 4 * t.shape.len() + 4 * t.data.len())
        .sum()
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// A bounds-checked reader over a message body (see the module docs).
struct Reader<'a> {
    kind: Kind,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks size, magic, version and CRC; returns a reader over the body
    /// and the version.
    fn open(kind: Kind, bytes: &'a [u8], versions: &[u32]) -> Result<(Self, u32)> {
        let limits = Limits::current();
        limits.check_with(
            "decode",
            LimitField::MessageBytes,
            &|| format!("the size of a {}", kind.what()),
            bytes.len() as u64,
        )?;
        let err = |d: String| bad(kind, d);
        let magic = kind.magic();
        let n = bytes.len().min(4);
        if bytes[..n] != magic[..n] {
            return Err(err(format!(
                "magic is {:?}, expected {:?}",
                String::from_utf8_lossy(&bytes[..n]),
                std::str::from_utf8(magic).unwrap_or("?")
            )));
        }
        if bytes.len() < 12 {
            return Err(err(format!(
                "truncated: {} bytes, shorter than a header and a checksum (12)",
                bytes.len()
            )));
        }
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if !versions.contains(&version) {
            return Err(err(format!(
                "version {version}; this build reads {versions:?}"
            )));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let actual = crc32(body);
        if stored != actual {
            return Err(err(format!(
                "checksum mismatch: stored {stored:08x}, computed {actual:08x} (corrupt or truncated)"
            )));
        }
        Ok((
            Reader {
                kind,
                bytes: body,
                pos: 8,
            },
            version,
        ))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, field: &dyn Fn() -> String) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(bad(
                self.kind,
                format!(
                    "truncated: {} needs {n} bytes at offset {} but {} remain",
                    field(),
                    self.pos,
                    self.remaining()
                ),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self, field: &dyn Fn() -> String) -> Result<u32> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, field: &str) -> Result<u64> {
        self.u64_with(&|| field.to_string())
    }

    fn u64_with(&mut self, field: &dyn Fn() -> String) -> Result<u64> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn f64(&mut self, field: &str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(field)?))
    }

    /// A count of items of at least `min_item_bytes` each, checked against
    /// the bytes that remain.
    fn count(&mut self, field: &dyn Fn() -> String, min_item_bytes: usize) -> Result<usize> {
        let n = self.u32(field)? as usize;
        if n.saturating_mul(min_item_bytes.max(1)) > self.remaining() {
            return Err(bad(
                self.kind,
                format!(
                    "{} is {n}, but only {} bytes remain",
                    field(),
                    self.remaining()
                ),
            ));
        }
        Ok(n)
    }

    fn text(&mut self, field: &dyn Fn() -> String) -> Result<&'a [u8]> {
        let n = self.count(&|| format!("the length of {}", field()), 1)?;
        let s = self.take(n, field)?;
        let pad = (4 - n % 4) % 4;
        let p = self.take(pad, &|| format!("the padding of {}", field()))?;
        if p.iter().any(|&b| b != 0) {
            return Err(bad(self.kind, format!("nonzero padding after {}", field())));
        }
        Ok(s)
    }

    fn string(&mut self, field: &dyn Fn() -> String) -> Result<String> {
        let s = self.text(field)?;
        std::str::from_utf8(s)
            .map(str::to_owned)
            .map_err(|e| bad(self.kind, format!("{} is not UTF-8: {e}", field())))
    }

    fn json<T: FromJson>(&mut self, field: &str) -> Result<T> {
        let s = self.text(&|| field.to_string())?;
        crate::json::from_slice(s).map_err(|e| Error::JsonDocument {
            what: format!("the {field} of a {}", self.kind.what()),
            detail: e.to_string(),
        })
    }

    fn tensors(&mut self, list: &str) -> Result<Vec<NamedTensor>> {
        // A tensor takes at least 8 bytes (an empty name and rank 0 plus data).
        let n = self.count(&|| format!("the number of tensors in {list}"), 8)?;
        // Reserve for a few, never for what the count alone claims: a
        // `NamedTensor` is 9 times the 8 bytes that vouch for it.
        let mut out = Vec::with_capacity(n.min(1024));
        let mut elements = 0u64;
        for i in 0..n {
            let name = self.string(&|| format!("the name of tensor {i} of {list}"))?;
            let field = |what: &str| format!("{what} of tensor {i} ({name:?}) of {list}");
            let rank = self.count(&|| field("the rank"), 4)?;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(self.u32(&|| field("a dimension"))? as usize);
            }
            // Zero dimensions count as one, as for any tensor.
            let len =
                tensor_elements("decode", &shape).map_err(|e| e.in_context(field("the shape")))?;
            elements += len as u64;
            Limits::current().check_with(
                "decode",
                LimitField::ModelParameters,
                &|| format!("the elements of {list} together"),
                elements,
            )?;
            let bytes = self.take(len.saturating_mul(4), &|| field("the data"))?;
            let data = f32s_le(bytes);
            out.push(NamedTensor { name, shape, data });
        }
        Ok(out)
    }

    fn metrics(&mut self, block: &str) -> Result<UnfinalizedMetrics> {
        // A metric takes at least 8 bytes (an empty name and a length).
        let n = self.count(&|| format!("the number of {block}"), 8)?;
        let mut out = std::collections::BTreeMap::new();
        for i in 0..n {
            let name = self.string(&|| format!("the name of metric {i} of {block}"))?;
            let len = self.count(&|| format!("the length of metric {name:?} of {block}"), 8)?;
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                let bits = self.u64_with(&|| format!("a value of metric {name:?}"))?;
                v.push(f64::from_bits(bits));
            }
            if out.insert(name.clone(), v).is_some() {
                return Err(bad(
                    self.kind,
                    format!("metric {name:?} appears twice in {block}"),
                ));
            }
        }
        Ok(UnfinalizedMetrics(out))
    }

    fn end(self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(bad(
                self.kind,
                format!("{} unexpected bytes after the last field", self.remaining()),
            ));
        }
        Ok(())
    }
}

fn bad(kind: Kind, detail: String) -> Error {
    Error::Binary {
        what: kind.what().into(),
        detail,
    }
}

// ---------------------------------------------------------------------------
// The messages
// ---------------------------------------------------------------------------

/// The JSON part of a task.
struct TaskConfig {
    work: ClientWork,
    weighting: ClientWeighting,
    plan: DatasetPlan,
}

impl FromJson for TaskConfig {
    fn from_json_value(v: &Json) -> std::result::Result<Self, JsonError> {
        let o = v.object("struct TaskConfig", &["work", "weighting", "plan"])?;
        Ok(TaskConfig {
            work: o.req("work", ClientWork::from_json_value)?,
            weighting: o.req("weighting", ClientWeighting::from_json_value)?,
            plan: o.req("plan", DatasetPlan::from_json_value)?,
        })
    }
}

impl ClientTask {
    /// The `FWTK` encoding (see the module docs).
    ///
    /// # Errors
    /// None today (a non-finite hyper-parameter is written as `null`, as
    /// serde_json writes it); the `Result` is kept for callers.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new(
            Kind::Task,
            floats(&self.global.trainable) + floats(&self.global.non_trainable) + 512,
        );
        w.u64(self.round_id);
        w.u64(self.model_fingerprint);
        w.u64(self.client_key);
        w.u64(self.seed);
        w.json(&obj(vec![
            ("work", self.work.to_json_value()),
            ("weighting", self.weighting.to_json_value()),
            ("plan", self.plan.to_json_value()),
        ]));
        w.named(&self.global.trainable);
        w.named(&self.global.non_trainable);
        Ok(w.finish())
    }

    /// Decodes an `FWTK` message.
    ///
    /// # Errors
    /// [`Error::Binary`], [`Error::JsonDocument`] or [`Error::Limit`] naming the
    /// field (see the module docs); [`Error::InvalidArgument`] for an
    /// invalid plan or work.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (mut r, _) = Reader::open(Kind::Task, bytes, &[VERSION])?;
        let round_id = r.u64("round_id")?;
        let model_fingerprint = r.u64("model_fingerprint")?;
        let client_key = r.u64("client_key")?;
        let seed = r.u64("seed")?;
        let config: TaskConfig = r.json("configuration")?;
        let trainable = r.tensors("the trainable weights")?;
        let non_trainable = r.tensors("the non-trainable weights")?;
        r.end()?;
        config.plan.validate()?;
        config.work.validate()?;
        Ok(ClientTask {
            round_id,
            model_fingerprint,
            client_key,
            seed,
            work: config.work,
            weighting: config.weighting,
            global: ModelWeights {
                trainable,
                non_trainable,
            },
            plan: config.plan,
        })
    }
}

/// Little-endian `f32`s from `bytes` (a multiple of 4 long): one copy on
/// little-endian targets (wasm32, x86, ARM), where the bytes already are
/// the values (an update's tensors are most of a round's bytes).
fn f32s_le(bytes: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; bytes.len() / 4];
    if cfg!(target_endian = "little") {
        // SAFETY: `out` has room for `bytes.len() / 4 * 4` bytes, the two
        // do not overlap, and every bit pattern is an `f32`; on a
        // little-endian target the bytes are the values' in-memory form.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                out.as_mut_ptr().cast::<u8>(),
                out.len() * 4,
            );
        }
    } else {
        for (v, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
    out
}

impl ClientUpdate {
    /// The `FWUP` encoding (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::Update, floats(&self.update) + 256);
        w.u64(self.round_id);
        w.u64(self.model_fingerprint);
        w.u64(self.client_key);
        w.f64(self.weight);
        w.u32(u32::from(self.non_finite));
        w.u32(0);
        w.metrics(&self.metrics);
        w.named(&self.update);
        w.finish()
    }

    /// Decodes an `FWUP` message. Whether the update fits a round is
    /// [`crate::server::ServerRound::accept`]'s business.
    ///
    /// # Errors
    /// [`Error::Binary`], [`Error::JsonDocument`] or [`Error::Limit`] naming the field.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (mut r, _) = Reader::open(Kind::Update, bytes, &[VERSION])?;
        let round_id = r.u64("round_id")?;
        let model_fingerprint = r.u64("model_fingerprint")?;
        let client_key = r.u64("client_key")?;
        let weight = r.f64("weight")?;
        let flags = r.u32(&|| "flags".into())?;
        let reserved = r.u32(&|| "reserved".into())?;
        if flags > 1 || reserved != 0 {
            return Err(bad(
                Kind::Update,
                format!(
                    "flags {flags:#x} / reserved {reserved:#x}: only bit 0 of flags is defined"
                ),
            ));
        }
        let metrics = r.metrics("metrics")?;
        let update = r.tensors("the update")?;
        r.end()?;
        Ok(ClientUpdate {
            round_id,
            model_fingerprint,
            client_key,
            weight,
            non_finite: flags == 1,
            update,
            metrics,
        })
    }
}

impl ClientState {
    /// The `FWCS` encoding (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::ClientState, floats(&self.local_weights));
        w.u64(self.index);
        w.named(&self.local_weights);
        w.finish()
    }

    /// Decodes an `FWCS` message.
    ///
    /// # Errors
    /// [`Error::Binary`] or [`Error::Limit`] naming the field.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (mut r, _) = Reader::open(Kind::ClientState, bytes, &[VERSION])?;
        let index = r.u64("index")?;
        let local_weights = r.tensors("the local weights")?;
        r.end()?;
        Ok(ClientState {
            index,
            local_weights,
        })
    }
}

/// The JSON part of a checkpoint: everything but the floats.
struct CheckpointHeader {
    distributor: Empty,
    aggregator: Json,
    evaluation: bool,
    finalizer: FinalizerHeader,
}

struct FinalizerHeader {
    round: u64,
    server_optimizer: Option<OptimizerHeader>,
}

struct OptimizerHeader {
    optimizer: String,
    step: u64,
    round: u64,
    shapes: Vec<Vec<usize>>,
    slots_per_variable: usize,
}

type JResult<T> = std::result::Result<T, JsonError>;

impl ToJson for CheckpointHeader {
    fn to_json_value(&self) -> Json {
        let opt = self.finalizer.server_optimizer.as_ref().map(|o| {
            obj(vec![
                ("optimizer", o.optimizer.as_str().into()),
                ("step", o.step.into()),
                ("round", o.round.into()),
                (
                    "shapes",
                    Json::Arr(
                        o.shapes
                            .iter()
                            .map(|s| Json::Arr(s.iter().map(|&d| d.into()).collect()))
                            .collect(),
                    ),
                ),
                ("slots_per_variable", o.slots_per_variable.into()),
            ])
        });
        obj(vec![
            ("distributor", Json::Obj(Vec::new())),
            ("aggregator", self.aggregator.clone()),
            ("evaluation", self.evaluation.into()),
            (
                "finalizer",
                obj(vec![
                    ("round", self.finalizer.round.into()),
                    ("server_optimizer", opt.unwrap_or(Json::Null)),
                ]),
            ),
        ])
    }
}

impl FromJson for CheckpointHeader {
    fn from_json_value(v: &Json) -> JResult<Self> {
        let o = v.object(
            "struct CheckpointHeader",
            &["distributor", "aggregator", "evaluation", "finalizer"],
        )?;
        Ok(CheckpointHeader {
            distributor: o.req("distributor", |d| {
                d.object("struct Empty", &[]).map(|_| Empty {})
            })?,
            aggregator: o.req("aggregator", |a| Ok(a.clone()))?,
            evaluation: o.req("evaluation", Json::as_bool)?,
            finalizer: o.req("finalizer", |f| {
                let f = f.object("struct FinalizerHeader", &["round", "server_optimizer"])?;
                Ok(FinalizerHeader {
                    round: f.req("round", Json::as_u64)?,
                    server_optimizer: f.opt("server_optimizer", |s| {
                        let s = s.object(
                            "struct OptimizerHeader",
                            &["optimizer", "step", "round", "shapes", "slots_per_variable"],
                        )?;
                        Ok(OptimizerHeader {
                            optimizer: s.req("optimizer", |n| n.as_str().map(str::to_owned))?,
                            step: s.req("step", Json::as_u64)?,
                            round: s.req("round", Json::as_u64)?,
                            shapes: s.req("shapes", |l| l.list(|d| d.list(Json::as_usize)))?,
                            slots_per_variable: s.req("slots_per_variable", Json::as_usize)?,
                        })
                    })?,
                })
            })?,
        })
    }
}

impl LearningProcessState {
    /// The `FWCK` checkpoint (see the module docs): about the size of its
    /// floats, bit-exact on reading.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the optimizer state's slots are not
    /// the same count for every variable.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let opt = self.finalizer.server_optimizer.as_ref();
        let per_var = opt.and_then(|o| o.slots.first()).map_or(0, Vec::len);
        if let Some(o) = opt {
            if o.slots.iter().any(|s| s.len() != per_var) || o.slots.len() != o.shapes.len() {
                return Err(Error::invalid(
                    "LearningProcessState::to_bytes",
                    "the server optimizer state has uneven slots",
                ));
            }
        }
        let header = CheckpointHeader {
            distributor: Empty {},
            aggregator: self.aggregator.clone(),
            evaluation: self.client_work.eval.is_some(),
            finalizer: FinalizerHeader {
                round: self.finalizer.round,
                server_optimizer: opt.map(|o| OptimizerHeader {
                    optimizer: o.optimizer.clone(),
                    step: o.step,
                    round: o.round,
                    shapes: o.shapes.clone(),
                    slots_per_variable: per_var,
                }),
            },
        };
        let weights = &self.global_model_weights;
        let mut w = Writer::new(
            Kind::Checkpoint,
            floats(&weights.trainable) * (1 + per_var) + floats(&weights.non_trainable) + 1024,
        );
        w.json(&header.to_json_value());
        w.named(&weights.trainable);
        w.named(&weights.non_trainable);
        let names: Vec<String> = match opt {
            None => Vec::new(),
            Some(o) => (0..o.slots.len())
                .flat_map(|i| {
                    let var = weights
                        .trainable
                        .get(i)
                        .map_or_else(|| format!("variable{i}"), |t| t.name.clone());
                    (0..per_var).map(move |j| format!("{var}/slot{j}"))
                })
                .collect(),
        };
        let slots: Vec<&SlotTensor> =
            opt.map_or(Vec::new(), |o| o.slots.iter().flatten().collect());
        w.tensors(
            names
                .iter()
                .zip(&slots)
                .map(|(n, s)| (n.as_str(), s.shape.as_slice(), s.data.as_slice())),
        );
        if let Some(eval) = &self.client_work.eval {
            w.metrics(&eval.current_round_metrics);
            w.metrics(&eval.total_rounds_metrics);
        }
        Ok(w.finish())
    }

    /// Decodes an `FWCK` checkpoint. Whether it fits a process is checked
    /// when the process uses it.
    ///
    /// # Errors
    /// [`Error::Binary`], [`Error::JsonDocument`] or [`Error::Limit`] naming the field.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (mut r, _) = Reader::open(Kind::Checkpoint, bytes, &[VERSION])?;
        let header: CheckpointHeader = r.json("header")?;
        let trainable = r.tensors("the trainable weights")?;
        let non_trainable = r.tensors("the non-trainable weights")?;
        let slots = r.tensors("the optimizer slots")?;
        let eval = if header.evaluation {
            Some(EvalState {
                current_round_metrics: r.metrics("this round's evaluation metrics")?,
                total_rounds_metrics: r.metrics("all rounds' evaluation metrics")?,
            })
        } else {
            None
        };
        r.end()?;
        let server_optimizer = match header.finalizer.server_optimizer {
            None if slots.is_empty() => None,
            None => {
                return Err(bad(
                    Kind::Checkpoint,
                    format!("{} optimizer slots but no optimizer", slots.len()),
                ))
            }
            Some(o) => {
                let want = o.shapes.len().checked_mul(o.slots_per_variable);
                if want != Some(slots.len()) {
                    return Err(bad(
                        Kind::Checkpoint,
                        format!(
                            "{} optimizer slots for {} variables of {} slot(s) each",
                            slots.len(),
                            o.shapes.len(),
                            o.slots_per_variable
                        ),
                    ));
                }
                let mut it = slots.into_iter();
                let mut per_var = Vec::with_capacity(o.shapes.len());
                for shape in &o.shapes {
                    let mut v = Vec::with_capacity(o.slots_per_variable);
                    for _ in 0..o.slots_per_variable {
                        let t = it.next().ok_or_else(|| {
                            bad(Kind::Checkpoint, "missing optimizer slot".into())
                        })?;
                        if &t.shape != shape {
                            return Err(bad(
                                Kind::Checkpoint,
                                format!(
                                    "slot {:?} has shape {:?}; its variable has {shape:?}",
                                    t.name, t.shape
                                ),
                            ));
                        }
                        v.push(SlotTensor {
                            shape: t.shape,
                            data: t.data,
                        });
                    }
                    per_var.push(v);
                }
                Some(OptimizerState {
                    optimizer: o.optimizer,
                    step: o.step,
                    round: o.round,
                    shapes: o.shapes,
                    slots: per_var,
                })
            }
        };
        Ok(LearningProcessState {
            global_model_weights: ModelWeights {
                trainable,
                non_trainable,
            },
            distributor: header.distributor,
            client_work: ClientWorkState { eval },
            aggregator: header.aggregator,
            finalizer: FinalizerState {
                round: header.finalizer.round,
                server_optimizer,
            },
        })
    }
}

/// Writes a weights snapshot as `FWWT` version 2 (aligned).
pub fn write_weights_v2(w: &WeightsSnapshot) -> Vec<u8> {
    let mut out = Writer::new(Kind::Weights, floats(&w.variables));
    out.named(&w.variables);
    out.finish()
}

/// Reads the variables of an `FWWT` version 2 file (the weights module
/// checks names and values).
///
/// # Errors
/// [`Error::Binary`] or [`Error::Limit`] naming the field.
pub fn read_weights_v2(bytes: &[u8]) -> Result<Vec<NamedTensor>> {
    let (mut r, _) = Reader::open(Kind::Weights, bytes, &[VERSION])?;
    let vars = r.tensors("the variables")?;
    r.end()?;
    Ok(vars)
}

/// The offsets (from the message start) of every `f32` array in a message
/// of any kind, in order, as `(byte offset, element count)`: what a host
/// needs to view them in place (`new Float32Array(buffer, offset, count)`).
/// Every offset is a multiple of 4.
///
/// # Errors
/// As decoding the message.
pub fn f32_arrays(bytes: &[u8]) -> Result<Vec<(usize, usize)>> {
    let kind = Kind::of(bytes).ok_or_else(|| bad(Kind::Weights, "unknown magic".into()))?;
    let (mut r, _) = Reader::open(kind, bytes, &[VERSION])?;
    let lists = match kind {
        Kind::Task => {
            r.take(32, &|| "the task header".into())?;
            r.text(&|| "the configuration".into())?;
            2
        }
        Kind::Update => {
            r.take(40, &|| "the update header".into())?;
            r.metrics("the metrics")?;
            1
        }
        Kind::ClientState => {
            r.take(8, &|| "index".into())?;
            1
        }
        Kind::Checkpoint => {
            r.text(&|| "the header".into())?;
            3
        }
        Kind::Weights => 1,
    };
    let mut out = Vec::new();
    for l in 0..lists {
        let n = r.count(&|| format!("the number of tensors in list {l}"), 8)?;
        for i in 0..n {
            r.text(&|| format!("the name of tensor {i}"))?;
            let rank = r.count(&|| format!("the rank of tensor {i}"), 4)?;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(r.u32(&|| format!("a dimension of tensor {i}"))? as usize);
            }
            let len = tensor_elements("f32_arrays", &shape)
                .map_err(|e| e.in_context(format_args!("tensor {i}")))?;
            out.push((r.pos, len));
            r.take(len.saturating_mul(4), &|| format!("the data of tensor {i}"))?;
        }
    }
    if kind == Kind::Checkpoint && r.remaining() > 0 {
        r.metrics("this round's evaluation metrics")?;
        r.metrics("all rounds' evaluation metrics")?;
    }
    r.end()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricKind;
    use crate::optim::OptimizerConfig;
    use std::collections::BTreeMap;

    fn t(name: &str, shape: &[usize], base: f32) -> NamedTensor {
        let n = shape.iter().product();
        NamedTensor {
            name: name.into(),
            shape: shape.to_vec(),
            data: (0..n).map(|i| base + i as f32 * 0.25).collect(),
        }
    }

    pub(crate) fn sample_task() -> ClientTask {
        ClientTask {
            round_id: 3,
            model_fingerprint: 0xdead_beef_0123_4567,
            client_key: u64::MAX - 1,
            seed: 1 << 60,
            work: ClientWork::Train {
                client_optimizer: OptimizerConfig::sgd(0.02),
                proximal_strength: Some(0.1),
            },
            weighting: ClientWeighting::NumExamples,
            global: ModelWeights {
                trainable: vec![t("d/kernel", &[3, 2], 1.0), t("d/bias", &[2], -1.0)],
                non_trainable: vec![t("bn/mean", &[1], 0.5)],
            },
            plan: DatasetPlan::new().repeat(5).shuffle(100, 1).batch(20),
        }
    }

    pub(crate) fn sample_update() -> ClientUpdate {
        ClientUpdate {
            round_id: 3,
            model_fingerprint: 7,
            client_key: 9,
            weight: 120.0,
            non_finite: false,
            update: vec![t("d/kernel", &[3, 2], 0.1), t("a", &[], 2.0)],
            metrics: UnfinalizedMetrics(BTreeMap::from([
                (MetricKind::Loss.name().into(), vec![0.1 + 0.2, 120.0]),
                (MetricKind::NumExamples.name().into(), vec![120.0]),
            ])),
        }
    }

    #[test]
    fn every_message_round_trips_bit_for_bit_and_is_aligned() {
        let task = sample_task();
        let b = task.to_bytes().unwrap();
        assert_eq!(ClientTask::from_bytes(&b).unwrap(), task);
        let up = sample_update();
        let ub = up.to_bytes();
        assert_eq!(ClientUpdate::from_bytes(&ub).unwrap(), up);
        // A diverged client's metric sums travel as they are.
        let mut diverged = sample_update();
        diverged.metrics.0.get_mut("loss").unwrap()[0] = f64::INFINITY;
        diverged.metrics.0.insert("x".into(), vec![f64::NAN]);
        let back = ClientUpdate::from_bytes(&diverged.to_bytes()).unwrap();
        assert_eq!(back.metrics.0["loss"][0], f64::INFINITY);
        assert!(back.metrics.0["x"][0].is_nan());
        let cs = ClientState {
            index: 42,
            local_weights: vec![t("user/emb", &[1, 4], 3.0)],
        };
        let cb = cs.to_bytes();
        assert_eq!(ClientState::from_bytes(&cb).unwrap(), cs);
        for bytes in [&b, &ub, &cb] {
            assert_eq!(bytes.len() % 4, 0);
            for (off, n) in f32_arrays(bytes).unwrap() {
                assert_eq!(off % 4, 0, "offset {off}");
                assert!(off + 4 * n <= bytes.len());
            }
        }
        // The update's arrays hold exactly its floats.
        let arrays = f32_arrays(&ub).unwrap();
        let (off, n) = arrays[0];
        let first: Vec<f32> = ub[off..off + 4 * n]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(first, up.update[0].data);
    }

    #[test]
    fn corruption_and_limits_are_typed_errors() {
        let b = sample_task().to_bytes().unwrap();
        // A flipped bit anywhere: checksum (or magic/version) error.
        for i in [0, 5, 20, b.len() / 2, b.len() - 1] {
            let mut c = b.clone();
            c[i] ^= 0x10;
            let e = ClientTask::from_bytes(&c).unwrap_err();
            assert_eq!(e.code(), "bad_data", "byte {i}: {e}");
        }
        // Truncation.
        for n in [0, 3, 11, 40, b.len() - 1] {
            assert_eq!(
                ClientTask::from_bytes(&b[..n]).unwrap_err().code(),
                "bad_data"
            );
        }
        // Another kind's bytes.
        let up = sample_update().to_bytes();
        let e = ClientTask::from_bytes(&up).unwrap_err();
        assert!(e.to_string().contains("magic"), "{e}");
        // A huge count with a valid checksum: refused before allocating.
        let mut h = b[..b.len() - 4].to_vec();
        let cfg_len = u32::from_le_bytes(h[40..44].try_into().unwrap()) as usize;
        let pad = (4 - cfg_len % 4) % 4;
        let count_at = 44 + cfg_len + pad;
        h[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32(&h);
        h.extend_from_slice(&crc.to_le_bytes());
        let e = ClientTask::from_bytes(&h).unwrap_err();
        assert!(e.to_string().contains("number of tensors"), "{e}");
        // A dimension whose product overflows: a limit error.
        let mut h = b[..b.len() - 4].to_vec();
        // First tensor: count, name len (8: "d/kernel"), name, rank 2, dims.
        let dims_at = count_at + 4 + 4 + 8 + 4;
        h[dims_at..dims_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        h[dims_at + 4..dims_at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32(&h);
        h.extend_from_slice(&crc.to_le_bytes());
        let e = ClientTask::from_bytes(&h).unwrap_err();
        assert_eq!(e.code(), "limit", "{e}");
        // Unknown flags on an update.
        let mut u = up[..up.len() - 4].to_vec();
        u[40] = 2;
        let crc = crc32(&u);
        u.extend_from_slice(&crc.to_le_bytes());
        let e = ClientUpdate::from_bytes(&u).unwrap_err();
        assert!(e.to_string().contains("flags"), "{e}");
    }
}
