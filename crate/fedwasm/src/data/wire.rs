//! `FWEX`: one client's examples as bytes, so that a simulation can hand a
//! client's data to a Web Worker (or a thread) in one transferable buffer.
//!
//! # Byte layout
//! Little-endian, every field a whole number of 4-byte words (so both `f32`
//! arrays are 4-byte aligned and JavaScript can view them as
//! `Float32Array`s without copying), in the style of the protocol's
//! encodings ([`fedwasm_protocol::encoding`]):
//!
//! ```text
//! message = "FWEX" version:u32 spec:json count:u64 x:f32[count * prod(x_shape)] y:f32[count] crc:u32
//! json    = len:u32 utf8[len] zero[(4 - len % 4) % 4]
//! ```
//! * `version`: 1;
//! * `spec`: the [`ElementSpec`] as JSON, e.g.
//!   `{"x_shape":[28,28,1],"label":{"class":{"num_classes":10}}}`;
//! * `x`, `y`: the [`Examples`] buffers as they are (see
//!   [`crate::data::element`]);
//! * `crc`: IEEE CRC-32 of every byte before it.
//!
//! # Reading untrusted bytes
//! [`decode_examples`] checks the length against
//! [`Limits::max_message_bytes`], then magic, version and CRC, then the spec,
//! and compares `count` with the bytes that remain before it allocates;
//! [`Examples::new`] then checks the example limit and every value. Errors
//! are [`Error::Binary`] (code `bad_data`) or [`Error::Limit`] (`limit`).

use super::element::{ElementSpec, Examples};
use crate::checksum::crc32;
use crate::error::{Error, Result};
use crate::limits::Limits;

const MAGIC: &[u8; 4] = b"FWEX";
const VERSION: u32 = 1;
const WHAT: &str = "FWEX examples";

fn bad(detail: impl Into<String>) -> Error {
    Error::Binary {
        what: WHAT.into(),
        detail: detail.into(),
    }
}

/// The `FWEX` bytes of `examples` (see the module docs).
pub fn encode_examples(examples: &Examples) -> Vec<u8> {
    let spec = serde_json::to_string(examples.spec()).expect("an element spec serialises");
    let pad = (4 - spec.len() % 4) % 4;
    let mut out =
        Vec::with_capacity(28 + spec.len() + pad + 4 * (examples.x().len() + examples.y().len()));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    out.extend_from_slice(spec.as_bytes());
    out.extend(std::iter::repeat_n(0u8, pad));
    out.extend_from_slice(&(examples.len() as u64).to_le_bytes());
    for v in examples.x().iter().chain(examples.y()) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A bounds-checked cursor over the body.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                bad(format!(
                    "{field}: {n} bytes wanted at offset {}, {} left",
                    self.at,
                    self.bytes.len() - self.at
                ))
            })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self, field: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4, field)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self, field: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8, field)?.try_into().expect("8 bytes"),
        ))
    }

    fn f32s(&mut self, count: usize, field: &str) -> Result<Vec<f32>> {
        let bytes = count
            .checked_mul(4)
            .ok_or_else(|| bad(format!("{field}: {count} floats overflow")))?;
        Ok(self
            .take(bytes, field)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
}

/// Decodes `FWEX` bytes (see the module docs for what is checked).
///
/// # Errors
/// [`Error::Limit`] for a message over [`Limits::max_message_bytes`] or too
/// many examples; [`Error::Binary`] naming the field for anything malformed;
/// what [`Examples::new`] reports for bad values.
pub fn decode_examples(bytes: &[u8]) -> Result<Examples> {
    Limits::current().check_bytes("decode_examples", WHAT, bytes.len())?;
    if bytes.len() < 12 || &bytes[..4] != MAGIC {
        return Err(bad(format!(
            "not FWEX examples (the first bytes are {:02x?})",
            &bytes[..bytes.len().min(4)]
        )));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let want = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let mut r = Cursor { bytes: body, at: 4 };
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(bad(format!(
            "version {version}; this reader knows {VERSION}"
        )));
    }
    let got = crc32(body);
    if got != want {
        return Err(bad(format!(
            "checksum {got:08x} where the message says {want:08x} (corrupt or truncated)"
        )));
    }
    let len = r.u32("spec length")? as usize;
    let spec = r.take(len, "spec")?;
    let pad = (4 - len % 4) % 4;
    if r.take(pad, "spec padding")?.iter().any(|&b| b != 0) {
        return Err(bad("spec padding is not zero"));
    }
    let spec: ElementSpec = std::str::from_utf8(spec)
        .ok()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| bad("spec: not an element spec in JSON"))?;
    spec.validate()?;
    let count = r.u64("count")?;
    let left = (body.len() - r.at) as u64;
    let per_example = (spec.x_len() as u64 + 1) * 4;
    if count.checked_mul(per_example) != Some(left) {
        return Err(bad(format!(
            "count {count} examples of {per_example} bytes, but {left} bytes follow"
        )));
    }
    let count = count as usize;
    let x = r.f32s(count * spec.x_len(), "x")?;
    let y = r.f32s(count, "y")?;
    Examples::new(spec, x, y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::LabelSpec;

    fn sample() -> Examples {
        let spec = ElementSpec::new(vec![2, 3], LabelSpec::Class { num_classes: 4 });
        let x: Vec<f32> = (0..18).map(|i| i as f32 * 0.5 - 2.0).collect();
        Examples::new(spec, x, vec![0.0, 3.0, 1.0]).unwrap()
    }

    #[test]
    fn round_trips_and_aligns() {
        let e = sample();
        let bytes = encode_examples(&e);
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(decode_examples(&bytes).unwrap(), e);
        let empty = Examples::empty(ElementSpec::new(vec![1], LabelSpec::Real)).unwrap();
        assert_eq!(decode_examples(&encode_examples(&empty)).unwrap(), empty);
    }

    #[test]
    fn refuses_corruption_truncation_and_lies() {
        let bytes = encode_examples(&sample());
        for cut in [0, 3, 11, 20, bytes.len() - 1] {
            let e = decode_examples(&bytes[..cut]).unwrap_err();
            assert_eq!(e.code(), "bad_data", "{e}");
        }
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(decode_examples(&flipped)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        // A count that promises more examples than follow, re-checksummed.
        let spec_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let at = 12 + spec_len + (4 - spec_len % 4) % 4;
        let mut lie = bytes[..bytes.len() - 4].to_vec();
        lie[at..at + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        let crc = crc32(&lie);
        lie.extend_from_slice(&crc.to_le_bytes());
        let e = decode_examples(&lie).unwrap_err();
        assert!(e.to_string().contains("count"), "{e}");
    }
}
