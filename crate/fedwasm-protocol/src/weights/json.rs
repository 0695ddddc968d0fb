//! The JSON weights format (see the parent module for the layout).
//!
//! Reading is two-pass so errors can name the variable: the envelope is
//! parsed with each variable kept as raw JSON, then each variable is parsed
//! on its own; if that fails, its `name` is recovered leniently for the message.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{NamedTensor, WeightsSnapshot};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// The `format` tag.
pub const FORMAT: &str = "fedwasm-weights";
/// The version written and the only one read.
pub const VERSION: u32 = 1;

const WHAT: &str = "fedwasm weights";

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    format: &'a str,
    version: u32,
    variables: &'a [NamedTensor],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeIn<'a> {
    format: String,
    version: u32,
    #[serde(borrow)]
    variables: Vec<&'a RawValue>,
}

/// Just the name of a variable, ignoring everything else.
#[derive(Deserialize)]
struct NameOnly {
    name: Option<String>,
}

/// An [`Error::Json`] with a custom message.
fn custom(detail: impl std::fmt::Display) -> Error {
    Error::Json {
        what: WHAT.into(),
        source: <serde_json::Error as serde::de::Error>::custom(detail),
    }
}

/// Serialises a (validated) snapshot.
pub fn write(w: &WeightsSnapshot) -> Result<String> {
    serde_json::to_string(&EnvelopeOut {
        format: FORMAT,
        version: VERSION,
        variables: &w.variables,
    })
    .map_err(|source| Error::Json {
        what: WHAT.into(),
        source,
    })
}

/// Parses and validates a snapshot.
pub fn read(json: &str) -> Result<WeightsSnapshot> {
    const OP: &str = "WeightsSnapshot::from_json";
    // What parsing allocates is bounded by the text's length.
    Limits::current().check_bytes(OP, "a JSON weights document", json.len())?;
    let env: EnvelopeIn = serde_json::from_str(json).map_err(|source| Error::Json {
        what: WHAT.into(),
        source,
    })?;
    if env.format != FORMAT {
        return Err(custom(format!(
            "format is {:?}, expected {FORMAT:?}",
            env.format
        )));
    }
    if env.version != VERSION {
        return Err(custom(format!(
            "unsupported version {} (this build reads version {VERSION})",
            env.version
        )));
    }
    let mut variables = Vec::with_capacity(env.variables.len());
    for (i, raw) in env.variables.iter().enumerate() {
        let v: NamedTensor = serde_json::from_str(raw.get()).map_err(|e| {
            let name = serde_json::from_str::<NameOnly>(raw.get())
                .ok()
                .and_then(|n| n.name)
                .map_or_else(String::new, |n| format!(" {n:?}"));
            custom(format!("variable {i}{name}: {e}"))
        })?;
        variables.push(v);
    }
    let snapshot = WeightsSnapshot { variables };
    snapshot.check_limits(OP)?;
    snapshot.check().map_err(custom)?;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_variable_with_an_unknown_field() {
        let json = r#"{"format":"fedwasm-weights","version":1,"variables":[
            {"name":"ok","shape":[1],"data":[1]},
            {"name":"dense/kernel","shape":[1],"data":[1],"dtype":"f32"}]}"#;
        let err = read(json).unwrap_err().to_string();
        assert!(
            err.contains("variable 1 \"dense/kernel\"") && err.contains("dtype"),
            "{err}"
        );
    }

    #[test]
    fn rejects_wrong_format_and_version() {
        let err = read(r#"{"format":"other","version":1,"variables":[]}"#).unwrap_err();
        assert!(err.to_string().contains("format"), "{err}");
        let err = read(r#"{"format":"fedwasm-weights","version":2,"variables":[]}"#).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
        let err = read(r#"{"format":"fedwasm-weights","version":1,"variables":[],"extra":0}"#)
            .unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
        assert!(read(r#"{"format":"fedwasm-weights","variables":[]}"#).is_err());
        assert_eq!(
            read(r#"{"format":"fedwasm-weights","version":1,"variables":[]}"#).unwrap(),
            WeightsSnapshot::default()
        );
    }
}
