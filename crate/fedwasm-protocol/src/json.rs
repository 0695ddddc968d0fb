//! fedwasm's own small JSON layer, for the configuration and the JSON
//! parts of the binary encodings: a value tree ([`Json`], also a model
//! aggregator's state and measurements), a parser that refuses duplicate
//! keys, a writer, and the readers and writers of every protocol type that
//! a round puts into JSON ([`FromJson`], [`ToJson`]; see [`codec`]).
//!
//! # Why not serde here
//! serde compiles each type's `Deserialize` once per deserializer and each
//! visitor once per type, and an internally tagged enum (`#[serde(tag =
//! "type")]`) buffers through serde's `Content` and deserializes twice:
//! generic code that made up most of the aggregator's wasm
//! (`tests/build-aggregator.sh`: 395 KB with serde_json, under 200 KiB
//! with this). These readers are plain functions over one [`Json`] tree.
//! The types keep their serde derives for everything else (JSON
//! checkpoints, the engine's configuration); `codec`'s tests check that
//! both write the same JSON and read the same documents.
//!
//! # Format
//! As serde_json writes and reads it for the same types: compact, fields in
//! declaration order, `None` as `null` (or left out where the serde
//! attributes say so), `f32` and `f64` in shortest round-trip form (zmij,
//! as serde_json), a non-finite float as `null`, and numbers read with
//! serde_json's algorithm (without its `float_roundtrip` feature). Readers
//! refuse unknown fields where the serde derive does, and their errors name
//! the field by its path (``work.client_optimizer.rule: unknown field `lr`,
//! expected ..``); syntax errors give a line and column.

pub mod codec;

use std::fmt;

pub use codec::{FromJson, ToJson};

/// A JSON value. Objects keep their fields in order (no duplicate keys
/// when parsed) and compare equal whatever the order, as maps.
/// [`Json::F32`] only comes from writers: it prints an `f32` as serde_json
/// does (its shortest form, not the `f64` one). It is also the state and
/// the measurements of a [`crate::aggregation::ModelAggregator`]; serde
/// reads and writes it as the JSON it holds.
#[derive(Clone, Debug)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// Any other number.
    F64(f64),
    /// An `f32` to write.
    F32(f32),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object.
    Obj(Vec<(String, Json)>),
}

impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        match (self, other) {
            (Json::Null, Json::Null) => true,
            (Json::Bool(a), Json::Bool(b)) => a == b,
            (Json::U64(a), Json::U64(b)) => a == b,
            (Json::I64(a), Json::I64(b)) => a == b,
            (Json::F64(a), Json::F64(b)) => a == b,
            (Json::F32(a), Json::F32(b)) => a == b,
            (Json::Str(a), Json::Str(b)) => a == b,
            (Json::Arr(a), Json::Arr(b)) => a == b,
            (Json::Obj(a), Json::Obj(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
            }
            _ => false,
        }
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::U64(n) => s.serialize_u64(*n),
            Json::I64(n) => s.serialize_i64(*n),
            Json::F64(x) => s.serialize_f64(*x),
            Json::F32(x) => s.serialize_f32(*x),
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Obj(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json {
    /// Any JSON value; a key twice in one object is an error.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<Json, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> std::result::Result<Json, E> {
                Ok(if n >= 0 {
                    Json::U64(n as u64)
                } else {
                    Json::I64(n)
                })
            }
            fn visit_u64<E>(self, n: u64) -> std::result::Result<Json, E> {
                Ok(Json::U64(n))
            }
            fn visit_f64<E>(self, x: f64) -> std::result::Result<Json, E> {
                Ok(Json::F64(x))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Json, E> {
                Ok(Json::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Json, E> {
                Ok(Json::Str(v))
            }
            fn visit_unit<E>(self) -> std::result::Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<Json, D::Error> {
                <Json as serde::Deserialize>::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Arr(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Json, A::Error> {
                let mut fields: Vec<(String, Json)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if fields.iter().any(|(f, _)| *f == k) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate key `{k}`"
                        )));
                    }
                    let v = map.next_value()?;
                    fields.push((k, v));
                }
                Ok(Json::Obj(fields))
            }
        }
        d.deserialize_any(V)
    }
}

/// Why a document could not be read: the path of the field (outermost
/// first) and what is wrong with it. (Boxed: one word to pass up.)
#[derive(Clone, Debug, PartialEq)]
pub struct JsonError(Box<ErrorAt>);

#[derive(Clone, Debug, PartialEq)]
struct ErrorAt {
    /// Innermost first.
    path: Vec<String>,
    msg: String,
}

impl JsonError {
    /// An error at the current value.
    pub fn new(msg: impl Into<String>) -> Self {
        JsonError(Box::new(ErrorAt {
            path: Vec::new(),
            msg: msg.into(),
        }))
    }

    /// The same error, inside field `field`.
    pub fn at(mut self, field: &str) -> Self {
        self.0.path.push(field.to_owned());
        self
    }

    /// The same error, at index `i` of an array.
    pub fn at_index(mut self, i: usize) -> Self {
        self.0.path.push(format!("[{i}]"));
        self
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        for (i, seg) in e.path.iter().rev().enumerate() {
            if i > 0 && !seg.starts_with('[') {
                f.write_str(".")?;
            }
            f.write_str(seg)?;
        }
        if !e.path.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&e.msg)
    }
}

impl From<JsonError> for serde_json::Error {
    fn from(e: JsonError) -> Self {
        // serde_json takes a trailing "at line L column C" as the position.
        <serde_json::Error as serde::de::Error>::custom(e)
    }
}

type JResult<T> = std::result::Result<T, JsonError>;

/// Parses `bytes` into `T` ([`parse`], then [`FromJson`]).
///
/// # Errors
/// Syntax errors (with line and column), duplicate keys, and `T`'s errors
/// (naming the field), as a `serde_json::Error` for [`crate::Error::Json`].
pub fn from_slice<T: FromJson>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    Ok(T::from_json_value(&parse(bytes)?)?)
}

/// `v` as compact JSON text.
pub fn to_vec<T: ToJson + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    write(&v.to_json_value(), &mut out);
    out
}

/// `v` as a compact JSON string.
pub fn to_string<T: ToJson + ?Sized>(v: &T) -> String {
    String::from_utf8(to_vec(v)).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// The deepest nesting of arrays and objects a document may have (as
/// serde_json).
const MAX_DEPTH: u32 = 128;

/// Parses one JSON document (UTF-8, optional surrounding whitespace).
///
/// # Errors
/// Malformed JSON, a key twice in one object, nesting deeper than 128, a
/// number out of `f64` range; with the line and column.
pub fn parse(bytes: &[u8]) -> JResult<Json> {
    let mut p = Parser {
        s: bytes,
        pos: 0,
        depth: 0,
    };
    if let Err(e) = std::str::from_utf8(bytes) {
        p.pos = e.valid_up_to();
        return Err(p.err("invalid UTF-8"));
    }
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.pos < bytes.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: u32,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> JsonError {
        let before = &self.s[..self.pos.min(self.s.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = before.len()
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
        JsonError::new(format!("{msg} at line {line} column {}", column + 1))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn literal(&mut self, word: &[u8], v: Json) -> JResult<Json> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("expected value"))
        }
    }

    fn value(&mut self) -> JResult<Json> {
        match self.peek() {
            None => Err(self.err("EOF while parsing a value")),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                self.nest()?;
                let mut items = Vec::new();
                self.ws();
                if !self.eat(b']') {
                    loop {
                        self.ws();
                        items.push(self.value()?);
                        self.ws();
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return Err(self.err("expected `,` or `]`"));
                        }
                    }
                }
                self.depth -= 1;
                Ok(Json::Arr(items))
            }
            Some(b'{') => {
                self.nest()?;
                let mut fields: Vec<(String, Json)> = Vec::new();
                self.ws();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        if self.peek() != Some(b'"') {
                            return Err(self.err("key must be a string"));
                        }
                        let at = self.pos;
                        let key = self.string()?;
                        self.ws();
                        if !self.eat(b':') {
                            return Err(self.err("expected `:`"));
                        }
                        self.ws();
                        let v = self.value()?;
                        if fields.iter().any(|(k, _)| *k == key) {
                            self.pos = at;
                            return Err(self.err(&format!("duplicate key `{key}`")));
                        }
                        fields.push((key, v));
                        self.ws();
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return Err(self.err("expected `,` or `}`"));
                        }
                    }
                }
                self.depth -= 1;
                Ok(Json::Obj(fields))
            }
            Some(_) => Err(self.err("expected value")),
        }
    }

    fn nest(&mut self) -> JResult<()> {
        self.pos += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("recursion limit exceeded"));
        }
        Ok(())
    }

    fn hex4(&mut self) -> JResult<u32> {
        let mut n = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("invalid escape")),
            };
            self.pos += 1;
            n = n * 16 + u32::from(d);
        }
        Ok(n)
    }

    fn string(&mut self) -> JResult<String> {
        self.pos += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("EOF while parsing a string")),
                Some(b'"') => {
                    self.pos += 1;
                    // Valid UTF-8: the input is, and escapes push whole chars.
                    return String::from_utf8(out).map_err(|_| self.err("invalid UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !(self.eat(b'\\') && self.eat(b'u')) {
                                    return Err(self.err("unexpected end of hex escape"));
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("lone leading surrogate in hex escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| self.err("lone trailing surrogate in hex escape"))?;
                            let mut buf = [0; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    self.pos += 1;
                    out.push(c as u8);
                }
                Some(c) if c < 0x20 => {
                    return Err(self
                        .err("control character (\\u0000-\\u001F) found while parsing a string"))
                }
                Some(c) => {
                    self.pos += 1;
                    out.push(c);
                }
            }
        }
    }

    fn digit(&self) -> Option<u64> {
        match self.peek() {
            Some(c @ b'0'..=b'9') => Some(u64::from(c - b'0')),
            _ => None,
        }
    }

    /// serde_json's number grammar and arithmetic (without its
    /// `float_roundtrip` feature), so both read the same bits.
    fn number(&mut self) -> JResult<Json> {
        let positive = !self.eat(b'-');
        let mut significand: u64 = match self.digit() {
            Some(0) => {
                self.pos += 1;
                if self.digit().is_some() {
                    return Err(self.err("invalid number"));
                }
                0
            }
            Some(d) => {
                self.pos += 1;
                d
            }
            None => return Err(self.err("invalid number")),
        };
        let mut exponent: i32 = 0;
        let mut overflowed = false;
        while let Some(d) = self.digit() {
            self.pos += 1;
            match significand.checked_mul(10).and_then(|s| s.checked_add(d)) {
                Some(s) if !overflowed => significand = s,
                // Too long for u64: further digits only scale.
                _ => {
                    overflowed = true;
                    exponent += 1;
                }
            }
        }
        let mut is_float = overflowed;
        if self.eat(b'.') {
            is_float = true;
            let mut any = false;
            while let Some(d) = self.digit() {
                self.pos += 1;
                any = true;
                if let Some(s) = significand.checked_mul(10).and_then(|s| s.checked_add(d)) {
                    if !overflowed {
                        significand = s;
                        exponent -= 1;
                        continue;
                    }
                }
                overflowed = true;
            }
            if !any {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            is_float = true;
            self.pos += 1;
            let positive_exp = if self.eat(b'-') {
                false
            } else {
                self.eat(b'+');
                true
            };
            let mut exp: i32 = match self.digit() {
                Some(d) => d as i32,
                None => return Err(self.err("invalid number")),
            };
            self.pos += 1;
            while let Some(d) = self.digit() {
                self.pos += 1;
                match exp.checked_mul(10).and_then(|e| e.checked_add(d as i32)) {
                    Some(e) => exp = e,
                    None => {
                        while self.digit().is_some() {
                            self.pos += 1;
                        }
                        if significand != 0 && positive_exp {
                            return Err(self.err("number out of range"));
                        }
                        return Ok(Json::F64(if positive { 0.0 } else { -0.0 }));
                    }
                }
            }
            exponent = if positive_exp {
                exponent.saturating_add(exp)
            } else {
                exponent.saturating_sub(exp)
            };
        }
        if !is_float {
            return Ok(if positive {
                Json::U64(significand)
            } else {
                let neg = (significand as i64).wrapping_neg();
                // `-0` and integers below i64::MIN are floats, as in serde_json.
                if neg >= 0 {
                    Json::F64(-(significand as f64))
                } else {
                    Json::I64(neg)
                }
            });
        }
        let mut f = significand as f64;
        loop {
            match POW10.get(exponent.unsigned_abs() as usize) {
                Some(&pow) => {
                    if exponent >= 0 {
                        f *= pow;
                        if f.is_infinite() {
                            return Err(self.err("number out of range"));
                        }
                    } else {
                        f /= pow;
                    }
                    break;
                }
                None => {
                    if f == 0.0 {
                        break;
                    }
                    if exponent >= 0 {
                        return Err(self.err("number out of range"));
                    }
                    f /= 1e308;
                    exponent += 308;
                }
            }
        }
        Ok(Json::F64(if positive { f } else { -f }))
    }
}

#[rustfmt::skip]
static POW10: [f64; 309] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32,
    1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48,
    1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63, 1e64,
    1e65, 1e66, 1e67, 1e68, 1e69, 1e70, 1e71, 1e72, 1e73, 1e74, 1e75, 1e76, 1e77, 1e78, 1e79, 1e80,
    1e81, 1e82, 1e83, 1e84, 1e85, 1e86, 1e87, 1e88, 1e89, 1e90, 1e91, 1e92, 1e93, 1e94, 1e95, 1e96,
    1e97, 1e98, 1e99, 1e100, 1e101, 1e102, 1e103, 1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110,
    1e111, 1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119, 1e120, 1e121, 1e122, 1e123,
    1e124, 1e125, 1e126, 1e127, 1e128, 1e129, 1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136,
    1e137, 1e138, 1e139, 1e140, 1e141, 1e142, 1e143, 1e144, 1e145, 1e146, 1e147, 1e148, 1e149,
    1e150, 1e151, 1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159, 1e160, 1e161, 1e162,
    1e163, 1e164, 1e165, 1e166, 1e167, 1e168, 1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175,
    1e176, 1e177, 1e178, 1e179, 1e180, 1e181, 1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188,
    1e189, 1e190, 1e191, 1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199, 1e200, 1e201,
    1e202, 1e203, 1e204, 1e205, 1e206, 1e207, 1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214,
    1e215, 1e216, 1e217, 1e218, 1e219, 1e220, 1e221, 1e222, 1e223, 1e224, 1e225, 1e226, 1e227,
    1e228, 1e229, 1e230, 1e231, 1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239, 1e240,
    1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247, 1e248, 1e249, 1e250, 1e251, 1e252, 1e253,
    1e254, 1e255, 1e256, 1e257, 1e258, 1e259, 1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266,
    1e267, 1e268, 1e269, 1e270, 1e271, 1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279,
    1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287, 1e288, 1e289, 1e290, 1e291, 1e292,
    1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301, 1e302, 1e303, 1e304, 1e305,
    1e306, 1e307, 1e308
];

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Writes `v` as compact JSON, strings escaped and floats printed as
/// serde_json does.
pub fn write(v: &Json, out: &mut Vec<u8>) {
    match v {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Json::U64(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Json::I64(n) => out.extend_from_slice(n.to_string().as_bytes()),
        // Shortest round-trip text (zmij, as serde_json), or null.
        Json::F64(x) if x.is_finite() => {
            out.extend_from_slice(zmij::Buffer::new().format_finite(*x).as_bytes())
        }
        Json::F32(x) if x.is_finite() => {
            out.extend_from_slice(zmij::Buffer::new().format_finite(*x).as_bytes())
        }
        Json::F64(_) | Json::F32(_) => out.extend_from_slice(b"null"),
        Json::Str(s) => write_str(s, out),
        Json::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Json::Obj(fields) => {
            out.push(b'{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(item, out);
            }
            out.push(b'}');
        }
    }
}

/// A string literal, escaped as serde_json escapes it.
fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A float as serde_json prints it, for messages (`NaN`, `inf` and
/// `-inf` for the non-finite ones).
pub fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        zmij::Buffer::new().format_finite(x).to_owned()
    }
}

// ---------------------------------------------------------------------------
// Reading values
// ---------------------------------------------------------------------------

impl Json {
    /// What this value is, for "invalid type" messages (serde's wording).
    pub fn describe(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => format!("boolean `{b}`"),
            Json::U64(n) => format!("integer `{n}`"),
            Json::I64(n) => format!("integer `{n}`"),
            Json::F64(x) => format!("floating point `{}`", float_text(*x)),
            Json::F32(x) => format!("floating point `{}`", float_text(f64::from(*x))),
            Json::Str(s) => {
                let mut q = Vec::new();
                write_str(s, &mut q);
                format!("string {}", String::from_utf8_lossy(&q))
            }
            Json::Arr(_) => "sequence".into(),
            Json::Obj(_) => "map".into(),
        }
    }

    /// An "invalid type" error for this value, `expected` naming what was
    /// wanted.
    pub fn invalid(&self, expected: &str) -> JsonError {
        JsonError::new(format!(
            "invalid type: {}, expected {expected}",
            self.describe()
        ))
    }

    /// A non-negative integer.
    ///
    /// # Errors
    /// Anything else.
    pub fn as_u64(&self) -> JResult<u64> {
        match self {
            Json::U64(n) => Ok(*n),
            Json::I64(n) => Err(JsonError::new(format!(
                "invalid value: integer `{n}`, expected u64"
            ))),
            other => Err(other.invalid("u64")),
        }
    }

    /// A non-negative integer that fits `usize`.
    ///
    /// # Errors
    /// Anything else.
    pub fn as_usize(&self) -> JResult<usize> {
        match self {
            Json::U64(n) => usize::try_from(*n).map_err(|_| {
                JsonError::new(format!("invalid value: integer `{n}`, expected usize"))
            }),
            Json::I64(n) => Err(JsonError::new(format!(
                "invalid value: integer `{n}`, expected usize"
            ))),
            other => Err(other.invalid("usize")),
        }
    }

    /// A number as `f32` (`as`, like serde's visitors: integers directly,
    /// other numbers from their `f64`).
    ///
    /// # Errors
    /// A non-number.
    pub fn as_f32(&self) -> JResult<f32> {
        match self {
            Json::U64(n) => Ok(*n as f32),
            Json::I64(n) => Ok(*n as f32),
            Json::F64(x) => Ok(*x as f32),
            Json::F32(x) => Ok(*x),
            other => Err(other.invalid("f32")),
        }
    }

    /// A boolean.
    ///
    /// # Errors
    /// Anything else.
    pub fn as_bool(&self) -> JResult<bool> {
        match self {
            Json::Bool(b) => Ok(*b),
            other => Err(other.invalid("a boolean")),
        }
    }

    /// A string.
    ///
    /// # Errors
    /// Anything else.
    pub fn as_str(&self) -> JResult<&str> {
        match self {
            Json::Str(s) => Ok(s),
            other => Err(other.invalid("a string")),
        }
    }

    /// An array, each item read by `f` (errors name the index).
    ///
    /// # Errors
    /// A non-array; `f`'s errors.
    pub fn list<T>(&self, f: fn(&Json) -> JResult<T>) -> JResult<Vec<T>> {
        let items = match self {
            Json::Arr(items) => items,
            other => return Err(other.invalid("a sequence")),
        };
        // A loop, not `collect::<Result<_>>()`: less code per item type.
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            out.push(f(v).map_err(|e| e.at_index(i))?);
        }
        Ok(out)
    }

    /// An object with no fields but `fields` (`what` names the type in an
    /// "invalid type" message).
    ///
    /// # Errors
    /// A non-object; an unknown field (serde's `deny_unknown_fields`
    /// message).
    pub fn object<'a>(&'a self, what: &str, fields: &[&str]) -> JResult<Obj<'a>> {
        let o = self.object_lenient(what)?;
        if let Some((k, _)) = o.0.iter().find(|(k, _)| !fields.contains(&k.as_str())) {
            return Err(JsonError::new(format!(
                "unknown field `{k}`, {}",
                one_of("there are no fields", fields)
            )));
        }
        Ok(o)
    }

    /// An object, whatever its fields.
    ///
    /// # Errors
    /// A non-object.
    pub fn object_lenient<'a>(&'a self, what: &str) -> JResult<Obj<'a>> {
        match self {
            Json::Obj(fields) => Ok(Obj(fields)),
            other => Err(other.invalid(what)),
        }
    }

    /// The index in `names` of a unit variant written as a string.
    ///
    /// # Errors
    /// A non-string or an unknown name.
    pub fn variant(&self, what: &str, names: &[&str]) -> JResult<usize> {
        match self {
            Json::Str(s) => find_variant(s, names),
            other => Err(other.invalid(what)),
        }
    }

    /// An object internally tagged by `tag` (`{"type": "adam", ..}`): the
    /// index of its variant in `variants` and the object (read it with
    /// [`Json::object`], the tag among the fields).
    ///
    /// # Errors
    /// A non-object, a missing or non-string tag, an unknown variant.
    pub fn tagged<'a>(
        &'a self,
        what: &str,
        tag: &str,
        variants: &[&str],
    ) -> JResult<(usize, Obj<'a>)> {
        let o = self.object_lenient(what)?;
        let name = o.req(tag, Json::as_str)?;
        Ok((find_variant(name, variants)?, o))
    }
}

fn find_variant(s: &str, names: &[&str]) -> JResult<usize> {
    names.iter().position(|n| *n == s).ok_or_else(|| {
        JsonError::new(format!(
            "unknown variant `{s}`, {}",
            one_of("there are no variants", names)
        ))
    })
}

/// serde's "expected one of" list.
fn one_of(none: &str, names: &[&str]) -> String {
    match names {
        [] => none.into(),
        [a] => format!("expected `{a}`"),
        [a, b] => format!("expected `{a}` or `{b}`"),
        _ => {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("expected one of {}", list.join(", "))
        }
    }
}

/// The fields of an object.
#[derive(Clone, Copy, Debug)]
pub struct Obj<'a>(&'a [(String, Json)]);

impl<'a> Obj<'a> {
    /// The field `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The field `key` read by `f` (its errors name the field).
    ///
    /// # Errors
    /// `missing field` when absent; `f`'s errors.
    pub fn req<T>(&self, key: &str, f: fn(&'a Json) -> JResult<T>) -> JResult<T> {
        match self.get(key) {
            Some(v) => f(v).map_err(|e| e.at(key)),
            None => Err(JsonError::new(format!("missing field `{key}`"))),
        }
    }

    /// An optional field: `None` when absent or `null`.
    ///
    /// # Errors
    /// `f`'s errors.
    pub fn opt<T>(&self, key: &str, f: fn(&'a Json) -> JResult<T>) -> JResult<Option<T>> {
        match self.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => f(v).map(Some).map_err(|e| e.at(key)),
        }
    }

    /// A field with a default when absent (serde's `#[serde(default)]`).
    ///
    /// # Errors
    /// `f`'s errors.
    pub fn or<T>(&self, key: &str, default: T, f: fn(&'a Json) -> JResult<T>) -> JResult<T> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => f(v).map_err(|e| e.at(key)),
        }
    }
}

/// Builds an object from `(key, value)` pairs.
pub fn obj<const N: usize>(fields: [(&str, Json); N]) -> Json {
    Json::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Json::Bool(b)
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Self {
        Json::U64(n)
    }
}

impl From<usize> for Json {
    fn from(n: usize) -> Self {
        Json::U64(n as u64)
    }
}

impl From<f32> for Json {
    fn from(x: f32) -> Self {
        Json::F32(x)
    }
}

impl From<f64> for Json {
    fn from(x: f64) -> Self {
        Json::F64(x)
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::Str(s.to_owned())
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Self {
        v.map_or(Json::Null, Into::into)
    }
}

impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Json::U64(u),
                (None, Some(i)) => Json::I64(i),
                _ => Json::F64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Json::Str(s.clone()),
            Value::Array(items) => Json::Arr(items.iter().map(Json::from).collect()),
            Value::Object(m) => {
                Json::Obj(m.iter().map(|(k, v)| (k.clone(), Json::from(v))).collect())
            }
        }
    }
}

impl From<&Json> for serde_json::Value {
    fn from(v: &Json) -> Self {
        use serde_json::Value;
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::U64(n) => Value::from(*n),
            Json::I64(n) => Value::from(*n),
            Json::F64(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Json::F32(x) => {
                serde_json::Number::from_f64(f64::from(*x)).map_or(Value::Null, Value::Number)
            }
            Json::Str(s) => Value::String(s.clone()),
            Json::Arr(items) => Value::Array(items.iter().map(Value::from).collect()),
            Json::Obj(fields) => {
                let mut m = serde_json::Map::new();
                for (k, v) in fields {
                    m.insert(k.clone(), Value::from(v));
                }
                Value::Object(m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> JResult<Json> {
        parse(s.as_bytes())
    }

    #[test]
    fn parses_as_serde_json_does() {
        for text in [
            "0",
            "-0",
            "1",
            "-1",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "0.1",
            "1e-7",
            "1.5e300",
            "2.2250738585072014e-308",
            "4.9e-324",
            "123456789012345678901234567890",
            "0.30000000000000004",
            "1E2",
            "1e+2",
            "-1.25e-3",
            "3.4028235e38",
            "1e-400",
            "\"a\\u00e9\\ud83d\\ude00\\n\\\"\"",
            "[1,[2,{}],{\"a\":null}]",
            " {\"x\" : [ true , false ] } ",
        ] {
            let ours = parse_str(text).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, Json::from(&theirs), "{text}");
            let mut out = Vec::new();
            write(&ours, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&theirs).unwrap(),
                "{text}"
            );
        }
        for (f, text) in [
            (0.1f32, "0.1"),
            (1e-7, "1e-7"),
            (120.0, "120.0"),
            (f32::NAN, "null"),
        ] {
            let mut out = Vec::new();
            write(&Json::F32(f), &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), text);
            assert_eq!(serde_json::to_string(&f).unwrap(), text);
        }
        let s = "\u{1}\u{8}\u{c}\t\r\n\"\\/\u{7f}é";
        let mut out = Vec::new();
        write(&Json::Str(s.into()), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(s).unwrap()
        );
    }

    #[test]
    fn refuses_what_serde_json_refuses_and_duplicates() {
        for text in [
            "",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "[1 2]",
            "nul",
            "tru",
            "\"\\x\"",
            "\"\u{1}\"",
            "\"\\ud800\"",
            "1e400",
            "-1e400",
            "{1:2}",
            "[1] x",
            "\"abc",
        ] {
            assert!(parse_str(text).is_err(), "{text:?} parsed");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{text:?}"
            );
        }
        let e = parse_str("{\"a\": 1,\n \"a\": 2}").unwrap_err().to_string();
        assert!(e.contains("duplicate key `a` at line 2 column 2"), "{e}");
        let deep = "[".repeat(129) + &"]".repeat(129);
        assert!(parse_str(&deep)
            .unwrap_err()
            .to_string()
            .contains("recursion limit"));
        assert!(parse_str(&("[".repeat(128) + &"]".repeat(128))).is_ok());
        assert!(parse(b"\"\xff\"")
            .unwrap_err()
            .to_string()
            .contains("UTF-8"));
        // The position travels into serde_json's error.
        let e: serde_json::Error = parse_str("[1,\n  x]").unwrap_err().into();
        assert_eq!((e.line(), e.column()), (2, 3), "{e}");
    }

    #[test]
    fn readers_name_the_field() {
        let v = parse_str(r#"{"a": {"b": [1, "x"]}, "c": 1.5}"#).unwrap();
        let o = v.object("struct S", &["a", "c"]).unwrap();
        let e = o
            .req("a", |a| {
                a.object("struct T", &["b"])?
                    .req("b", |b| b.list(Json::as_u64))
            })
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.b[1]: invalid type: string \"x\", expected u64"
        );
        let e = o.req("c", Json::as_u64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "c: invalid type: floating point `1.5`, expected u64"
        );
        assert_eq!(o.req("c", Json::as_f32).unwrap(), 1.5);
        let e = v.object("struct S", &["a", "b", "d"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown field `c`, expected one of `a`, `b`, `d`"
        );
        assert_eq!(
            o.req("z", Json::as_u64).unwrap_err().to_string(),
            "missing field `z`"
        );
        assert_eq!(o.opt("z", Json::as_u64).unwrap(), None);
        assert_eq!(o.or("z", 7, Json::as_u64).unwrap(), 7);
        let e = parse_str("-3").unwrap().as_usize().unwrap_err();
        assert_eq!(e.to_string(), "invalid value: integer `-3`, expected usize");
    }
}
