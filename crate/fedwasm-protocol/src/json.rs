//! One JSON path for the protocol's configuration and headers: the text is
//! parsed once into a [`serde_json::Value`] (refusing duplicate keys), and
//! every type is then deserialized from that value.
//!
//! Why: serde monomorphises each type's `Deserialize` once per
//! deserializer, and an internally tagged enum (`#[serde(tag = "type")]`)
//! buffers through serde's private `Content` and deserializes its variant a
//! second way. Going through `Value` everywhere, with
//! [`internally_tagged`] in place of the derived tagging, compiles each
//! type's deserializer once: the aggregator's wasm halves in size
//! (`tests/build-aggregator.sh`). Errors still name the field
//! (`unknown field`, `missing field`, `invalid type`), and syntax errors
//! their line and column.

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// Parses `bytes` as JSON into `T` (see the module docs): what
/// `serde_json::from_slice` does, through one [`Value`].
///
/// # Errors
/// Malformed JSON, a duplicate key, unknown fields or values of the wrong
/// type, named as serde names them.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    serde_json::from_slice::<Strict>(bytes).and_then(|s| T::deserialize(s.0))
}

/// A JSON value whose objects have no duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Deserializes an internally tagged enum (`{"<tag>": "<variant>",
/// ..fields}`) without serde's buffering: the object is read as a
/// [`Value`], the tag taken out, and `external` (the derived `deserialize`
/// of a `#[serde(remote = "..")]` twin of the enum in serde's default,
/// externally tagged form, every variant a struct variant: `Evaluate {}`
/// for a unit one) reads `{"<variant>": {..fields}}`. Unknown variants,
/// unknown and missing fields are errors as with `#[serde(tag = "..")]`.
///
/// # Errors
/// A non-object, a missing or non-string tag, and `external`'s errors.
pub fn internally_tagged<'de, D, T>(
    d: D,
    tag: &'static str,
    external: fn(Value) -> serde_json::Result<T>,
) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    untag(value(d)?, tag, external).map_err(de::Error::custom)
}

/// [`internally_tagged`] on a value already read.
///
/// # Errors
/// As [`internally_tagged`].
pub fn untag<T>(
    v: Value,
    tag: &'static str,
    external: fn(Value) -> serde_json::Result<T>,
) -> serde_json::Result<T> {
    let mut map = match v {
        Value::Object(m) => m,
        other => return Err(de::Error::invalid_type(unexpected(&other), &"an object")),
    };
    let variant = match map.remove(tag) {
        Some(Value::String(s)) => s,
        Some(other) => return Err(de::Error::invalid_type(unexpected(&other), &"a string")),
        None => return Err(de::Error::missing_field(tag)),
    };
    let mut outer = Map::new();
    outer.insert(variant, Value::Object(map));
    external(Value::Object(outer))
}

/// What a value is, for an `invalid type` error.
pub fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// Deserializes a JSON value through [`Strict`] from any deserializer (for
/// hand-written `Deserialize` impls that look at the value first).
pub fn value<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
    Strict::deserialize(d).map(|s| s.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct S {
        a: u64,
        #[serde(default)]
        b: Option<f32>,
    }

    #[test]
    fn parses_refuses_duplicates_and_names_fields() {
        let s: S = from_slice(br#"{"a": 18446744073709551615, "b": 0.1}"#).unwrap();
        assert_eq!(
            s,
            S {
                a: u64::MAX,
                b: Some(0.1)
            }
        );
        let e = from_slice::<S>(br#"{"a": 1, "a": 2}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key `a`"), "{e}");
        let e = from_slice::<S>(br#"{"a": 1, "c": 2}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `c`"), "{e}");
        let e = from_slice::<S>(br#"{"b": 1}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `a`"), "{e}");
        let e = from_slice::<S>(b"{\"a\": 1,\n \"b\": }").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = from_slice::<S>(br#"{"a": -1}"#).unwrap_err();
        assert!(e.to_string().contains("invalid value: integer `-1`"), "{e}");
    }
}
