//! Loader for LEAF's FEMNIST JSON files.
//!
//! # Format
//! Each file is one JSON object:
//! `{"users": [ids], "num_samples": [counts], "user_data": {"<id>": {"x": [[784 floats]], "y": [ints]}}}`.
//! `x` rows are 28x28 images flattened row-major, values in `[0, 1]` with
//! background 1.0; `y` is 0-61 (0-9 digits, 10-35 upper case, 36-61 lower case).
//! Users (writers) become clients; the result has `x_shape = [784]` and
//! `LabelSpec::Class { num_classes: 62 }`, or `10` with
//! [`LeafOptions::digits_only`].
//!
//! # Strategy
//! Loading works in two phases so that a few writers load fast: first every
//! file is scanned, keeping each user's `x` as unparsed JSON
//! ([`serde_json::value::RawValue`]) and parsing only the labels; then the
//! selected users' pixels are parsed straight into one flat buffer per user.
//! Every error names the file, the record (user, example) and the field.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::client_data::ClientData;
use super::element::{ElementSpec, Examples, LabelSpec};
use crate::error::{Error, Result};
use crate::limits::{checked_product, LimitField, Limits};

const OP: &str = "parse_leaf_files";

/// Values per LEAF image (28 x 28).
pub const LEAF_PIXELS: usize = 784;
/// Classes in LEAF FEMNIST labels.
pub const LEAF_CLASSES: usize = 62;

/// What to load from LEAF files.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LeafOptions {
    /// Keep only digits (labels 0-9, `Class { num_classes: 10 }`); writers left
    /// without examples are dropped.
    pub digits_only: bool,
    /// Keep only the first `n` writers in sorted id order (after the digits
    /// filter), over all files.
    pub max_clients: Option<usize>,
    /// Store each pixel as `1 - x`: MNIST's convention (ink 1, background 0)
    /// instead of LEAF's (background 1). Linear models such as the 784->10
    /// softmax regression train much faster on it (see `crate/tests/training.rs`).
    pub ink_is_one: bool,
}

/// Reads every `*.json` file of `dir` (sorted by file name) as LEAF data.
///
/// # Errors
/// [`Error::Io`] if the directory or a file cannot be read; [`Error::Data`]
/// if there is no JSON file or any file is malformed (see [`parse_leaf_files`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_leaf_dir(dir: &std::path::Path, opts: &LeafOptions) -> Result<ClientData> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(Error::data(
            dir.display().to_string(),
            "directory",
            "*.json",
            "no LEAF JSON files found",
        ));
    }
    let mut contents = Vec::with_capacity(paths.len());
    for path in &paths {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        contents.push((path.display().to_string(), bytes));
    }
    let files: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    parse_leaf_files(&files, opts)
}

/// Parses one LEAF JSON document named `name` (used in error messages).
///
/// # Errors
/// As [`parse_leaf_files`].
pub fn parse_leaf_json(name: &str, bytes: &[u8], opts: &LeafOptions) -> Result<ClientData> {
    parse_leaf_files(&[(name, bytes)], opts)
}

/// Parses several LEAF JSON documents `(name, bytes)` into one [`ClientData`].
///
/// # Errors
/// [`Error::Limit`] for a file over `max_message_bytes` or a user with more
/// examples than `max_examples_per_client` (or more pixels than
/// `max_tensor_elements`), naming the file and the user;
/// [`Error::Data`] naming the file, the record and the field when: the JSON is
/// malformed or truncated (with serde's line and column); `users`,
/// `num_samples` or `user_data` is missing or inconsistent; a user has no `x`
/// or `y`; a row does not have 784 finite values; a label is not a whole
/// number in 0..62; counts disagree with `num_samples`; or a user appears
/// twice (in one file or across files).
pub fn parse_leaf_files(files: &[(&str, &[u8])], opts: &LeafOptions) -> Result<ClientData> {
    // Phase 1: index users, parse labels only.
    let mut index: BTreeMap<String, IndexedUser<'_>> = BTreeMap::new();
    for &(name, bytes) in files {
        Limits::current()
            .check_bytes(OP, "a LEAF JSON file", bytes.len())
            .map_err(|e| e.in_context(format_args!("file {name}")))?;
        for user in index_file(name, bytes)? {
            if let Some(prev) = index.get(&user.id) {
                return Err(Error::data(
                    name,
                    format!("user {}", user.id),
                    "users",
                    format!("duplicate user, already loaded from {}", prev.file),
                ));
            }
            index.insert(user.id.clone(), user);
        }
    }

    // Select writers.
    let keep_label = |y: f32| !opts.digits_only || y < 10.0;
    let selected = index
        .values()
        .filter(|u| u.y.iter().any(|&y| keep_label(y)))
        .take(opts.max_clients.unwrap_or(usize::MAX));

    // Phase 2: parse the selected writers' pixels.
    let num_classes = if opts.digits_only { 10 } else { LEAF_CLASSES };
    let spec = ElementSpec::new(vec![LEAF_PIXELS], LabelSpec::Class { num_classes });
    let mut clients = BTreeMap::new();
    for user in selected {
        let x_all = parse_pixels(user)?;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        if opts.digits_only {
            for (i, &label) in user.y.iter().enumerate().filter(|(_, &l)| keep_label(l)) {
                x.extend_from_slice(&x_all[i * LEAF_PIXELS..(i + 1) * LEAF_PIXELS]);
                y.push(label);
            }
        } else {
            x = x_all;
            y = user.y.clone();
        }
        if opts.ink_is_one {
            x.iter_mut().for_each(|v| *v = 1.0 - *v);
        }
        clients.insert(user.id.clone(), Examples::new(spec.clone(), x, y)?);
    }
    ClientData::from_clients(spec, clients)
}

/// A user found in phase 1.
struct IndexedUser<'a> {
    file: &'a str,
    id: String,
    num_samples: u64,
    x: &'a RawValue,
    y: Vec<f32>,
}

/// Where the parser is, for error messages.
struct Ctx {
    field: Cell<&'static str>,
    record: RefCell<String>,
}

#[derive(Default)]
struct RawDoc<'a> {
    users: Option<Vec<String>>,
    num_samples: Option<Vec<u64>>,
    user_data: Option<Vec<(String, RawUser<'a>)>>,
}

fn index_file<'a>(name: &'a str, bytes: &'a [u8]) -> Result<Vec<IndexedUser<'a>>> {
    let ctx = Ctx {
        field: Cell::new("(document)"),
        record: RefCell::new("document".into()),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let doc = DocSeed(&ctx)
        .deserialize(&mut de)
        .and_then(|doc| de.end().map(|()| doc))
        .map_err(|e| {
            let record = ctx.record.borrow().clone();
            Error::data(name, record, ctx.field.get(), format!("invalid JSON: {e}"))
        })?;
    let missing = |field| Error::data(name, "document", field, "missing field");
    let users = doc.users.ok_or_else(|| missing("users"))?;
    let counts = doc.num_samples.ok_or_else(|| missing("num_samples"))?;
    let data = doc.user_data.ok_or_else(|| missing("user_data"))?;
    if users.len() != counts.len() {
        return Err(Error::data(
            name,
            "document",
            "num_samples",
            format!("{} counts for {} users", counts.len(), users.len()),
        ));
    }
    let mut raw: HashMap<String, RawUser<'a>> = HashMap::with_capacity(data.len());
    for (id, value) in data {
        if raw.contains_key(&id) {
            return Err(Error::data(
                name,
                format!("user {id}"),
                "user_data",
                "duplicate key",
            ));
        }
        raw.insert(id, value);
    }
    let mut out = Vec::with_capacity(users.len());
    let mut listed = HashSet::with_capacity(users.len());
    for (id, &count) in users.iter().zip(&counts) {
        if !listed.insert(id.as_str()) {
            return Err(Error::data(
                name,
                format!("user {id}"),
                "users",
                "duplicate user",
            ));
        }
        let value = raw.remove(id.as_str()).ok_or_else(|| {
            Error::data(
                name,
                format!("user {id}"),
                "user_data",
                "listed in users but has no user_data entry",
            )
        })?;
        out.push(index_user(name, id, count, value)?);
    }
    if let Some(extra) = raw.keys().min() {
        return Err(Error::data(
            name,
            format!("user {extra}"),
            "users",
            "has user_data but is not listed in users",
        ));
    }
    Ok(out)
}

/// One user's record after phase 1: pixels unparsed, labels parsed.
#[derive(Default)]
struct RawUser<'a> {
    x: Option<&'a RawValue>,
    y: Option<Vec<f64>>,
}

fn index_user<'a>(
    file: &'a str,
    id: &str,
    count: u64,
    user: RawUser<'a>,
) -> Result<IndexedUser<'a>> {
    let record = || format!("user {id}");
    let x = user
        .x
        .ok_or_else(|| Error::data(file, record(), "x", "missing field"))?;
    let labels = user
        .y
        .ok_or_else(|| Error::data(file, record(), "y", "missing field"))?;
    let mut y = Vec::with_capacity(labels.len());
    for (i, &l) in labels.iter().enumerate() {
        if l.fract() != 0.0 || !(0.0..LEAF_CLASSES as f64).contains(&l) {
            return Err(Error::data(
                file,
                format!("user {id}, example {i}"),
                "y",
                format!("label {l} is not a class id in 0..{LEAF_CLASSES}"),
            ));
        }
        y.push(l as f32);
    }
    if y.len() as u64 != count {
        return Err(Error::data(
            file,
            record(),
            "num_samples",
            format!("num_samples says {count} but y has {} labels", y.len()),
        ));
    }
    Ok(IndexedUser {
        file,
        id: id.to_string(),
        num_samples: count,
        x,
        y,
    })
}

/// Parses a user's `x` into one flat buffer, checking row lengths and count.
fn parse_pixels(user: &IndexedUser<'_>) -> Result<Vec<f32>> {
    let in_user = |e: Error| e.in_context(format_args!("file {}, user {}", user.file, user.id));
    let limits = Limits::current();
    limits
        .check(
            OP,
            LimitField::ExamplesPerClient,
            "examples (labels in y)",
            user.y.len() as u64,
        )
        .map_err(in_user)?;
    let need = checked_product(
        OP,
        LimitField::TensorElements,
        || format!("pixels of {} examples", user.y.len()),
        [user.y.len(), LEAF_PIXELS],
    )
    .map_err(in_user)?;
    let row = Cell::new(0usize);
    // Each value takes at least two bytes of text ("0,"): reserve no more
    // than the text can hold, whatever y claims.
    let mut out = Vec::with_capacity(need.min(user.x.get().len() / 2));
    let mut de = serde_json::Deserializer::from_str(user.x.get());
    RowsSeed {
        out: &mut out,
        row: &row,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| {
        Error::data(
            user.file,
            format!("user {}, example {}", user.id, row.get()),
            "x",
            e.to_string(),
        )
    })?;
    let rows = out.len() / LEAF_PIXELS;
    if rows as u64 != user.num_samples {
        return Err(Error::data(
            user.file,
            format!("user {}", user.id),
            "x",
            format!(
                "num_samples says {} but x has {rows} rows",
                user.num_samples
            ),
        ));
    }
    Ok(out)
}

// ---- serde visitors ----

struct DocSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = RawDoc<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = RawDoc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a LEAF object with users, num_samples and user_data")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let ctx = self.0;
        let mut doc = RawDoc::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "users" => {
                    ctx.field.set("users");
                    doc.users = Some(map.next_value()?);
                }
                "num_samples" => {
                    ctx.field.set("num_samples");
                    doc.num_samples = Some(map.next_value()?);
                }
                "user_data" => {
                    ctx.field.set("user_data");
                    doc.user_data = Some(map.next_value_seed(UserDataSeed(ctx))?);
                    *ctx.record.borrow_mut() = "document".into();
                }
                _ => {
                    ctx.field.set("(unknown key)");
                    map.next_value::<IgnoredAny>()?;
                }
            }
            ctx.field.set("(document)");
        }
        Ok(doc)
    }
}

struct UserDataSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for UserDataSeed<'_> {
    type Value = Vec<(String, RawUser<'de>)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for UserDataSeed<'_> {
    type Value = Vec<(String, RawUser<'de>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object mapping user ids to {x, y}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(id) = map.next_key::<String>()? {
            *self.0.record.borrow_mut() = format!("user {id}");
            let value = map.next_value_seed(UserSeed(self.0))?;
            *self.0.record.borrow_mut() = format!("after user {id}");
            out.push((id, value));
        }
        Ok(out)
    }
}

/// One user's `{"x": .., "y": ..}`: `x` kept raw, `y` parsed.
struct UserSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for UserSeed<'_> {
    type Value = RawUser<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for UserSeed<'_> {
    type Value = RawUser<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with x and y")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut user = RawUser::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "x" => {
                    self.0.field.set("x");
                    user.x = Some(map.next_value()?);
                }
                "y" => {
                    self.0.field.set("y");
                    user.y = Some(map.next_value()?);
                }
                _ => {
                    self.0.field.set("(unknown key)");
                    map.next_value::<IgnoredAny>()?;
                }
            }
            self.0.field.set("user_data");
        }
        Ok(user)
    }
}

/// `[[784 floats], ...]` appended to `out`; `row` tracks the current row.
struct RowsSeed<'o> {
    out: &'o mut Vec<f32>,
    row: &'o Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of 784-value rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(RowSeed(&mut *self.out))?.is_some() {
            self.row.set(self.row.get() + 1);
        }
        Ok(())
    }
}

struct RowSeed<'o>(&'o mut Vec<f32>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row of 784 numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        use serde::de::Error as _;
        let start = self.0.len();
        while let Some(v) = seq.next_element::<f32>()? {
            if !v.is_finite() {
                return Err(A::Error::custom(format!(
                    "value at offset {} is out of f32 range",
                    self.0.len() - start
                )));
            }
            if self.0.len() - start == LEAF_PIXELS {
                return Err(A::Error::custom(format!(
                    "row has more than {LEAF_PIXELS} values"
                )));
            }
            self.0.push(v);
        }
        let n = self.0.len() - start;
        if n != LEAF_PIXELS {
            return Err(A::Error::custom(format!(
                "expected {LEAF_PIXELS} values, found {n}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(users: &[(&str, usize, &[u8])]) -> String {
        let ids: Vec<String> = users.iter().map(|u| format!("\"{}\"", u.0)).collect();
        let counts: Vec<String> = users.iter().map(|u| u.1.to_string()).collect();
        let data: Vec<String> = users
            .iter()
            .map(|(id, _, ys)| {
                let row = vec!["1.0"; LEAF_PIXELS].join(",");
                let xs: Vec<String> = ys.iter().map(|_| format!("[{row}]")).collect();
                let y: Vec<String> = ys.iter().map(|v| v.to_string()).collect();
                format!(
                    "\"{id}\": {{\"x\": [{}], \"y\": [{}]}}",
                    xs.join(","),
                    y.join(",")
                )
            })
            .collect();
        format!(
            "{{\"users\": [{}], \"num_samples\": [{}], \"user_data\": {{{}}}}}",
            ids.join(","),
            counts.join(","),
            data.join(",")
        )
    }

    #[test]
    fn parses_and_filters_digits() {
        let text = doc(&[("w2", 2, &[3, 40]), ("w1", 1, &[50]), ("w3", 1, &[7])]);
        let all = parse_leaf_json("a.json", text.as_bytes(), &LeafOptions::default()).unwrap();
        assert_eq!(all.client_ids(), vec!["w1", "w2", "w3"]);
        assert_eq!(all.num_examples(), 4);
        let opts = LeafOptions {
            digits_only: true,
            max_clients: Some(1),
            ..LeafOptions::default()
        };
        let d = parse_leaf_json("a.json", text.as_bytes(), &opts).unwrap();
        assert_eq!(d.client_ids(), vec!["w2"]);
        assert_eq!(d.examples_for_client("w2").unwrap().y(), &[3.0]);
    }

    #[test]
    fn ink_is_one_stores_one_minus_each_pixel() {
        let text = doc(&[("w1", 2, &[3, 4])]);
        let raw = parse_leaf_json("a.json", text.as_bytes(), &LeafOptions::default()).unwrap();
        let opts = LeafOptions {
            ink_is_one: true,
            ..LeafOptions::default()
        };
        let ink = parse_leaf_json("a.json", text.as_bytes(), &opts).unwrap();
        let (r, i) = (raw.merged(), ink.merged());
        assert_eq!(r.y(), i.y());
        assert!(r.x().iter().any(|&v| v != 0.5));
        for (a, b) in r.x().iter().zip(i.x()) {
            assert_eq!(*b, 1.0 - *a);
        }
    }

    #[test]
    fn short_row_and_count_mismatch_are_located() {
        let text = doc(&[("w1", 1, &[5])]).replacen("[1.0,", "[", 1);
        let e = parse_leaf_json("a.json", text.as_bytes(), &LeafOptions::default()).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("a.json") && m.contains("user w1, example 0") && m.contains("field x"),
            "{m}"
        );
        let text = doc(&[("w1", 2, &[5])]);
        let m = parse_leaf_json("a.json", text.as_bytes(), &LeafOptions::default())
            .unwrap_err()
            .to_string();
        assert!(m.contains("num_samples") && m.contains("user w1"), "{m}");
    }

    #[test]
    fn duplicate_users_across_files_fail() {
        let a = doc(&[("w1", 1, &[5])]);
        let files = [("a.json", a.as_bytes()), ("b.json", a.as_bytes())];
        let m = parse_leaf_files(&files, &LeafOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("b.json") && m.contains("a.json") && m.contains("user w1"),
            "{m}"
        );
    }
}
