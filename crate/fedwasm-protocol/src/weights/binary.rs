//! The binary weights format (see the parent module for the layout).
//!
//! Reading checks, in order: the magic number (on as many bytes as exist),
//! the version, the minimum length, the CRC-32 trailer, then the structure
//! with a bounds-checked cursor. Every length read from the file is compared
//! with the bytes that remain before anything is allocated, so a corrupt
//! header cannot trigger a huge allocation.

use std::collections::HashSet;

use super::{NamedTensor, WeightsSnapshot};
use crate::checksum::crc32;
use crate::error::{Error, Result};
use crate::limits::{tensor_elements, LimitField, Limits};

const OP: &str = "WeightsSnapshot::from_bytes";
/// The most variables reserved for before any is read.
const RESERVE_MAX: usize = 1024;

/// File magic.
pub const MAGIC: &[u8; 4] = b"FWWT";
/// The version written and the only one read.
pub const VERSION: u32 = 1;
/// Magic, version, count and CRC: the smallest valid file (no variables).
const MIN_LEN: usize = 16;

fn err(detail: impl Into<String>) -> Error {
    Error::Binary {
        what: "fedwasm weights".into(),
        detail: detail.into(),
    }
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes());
}

/// Serialises a snapshot as is (see [`WeightsSnapshot::to_bytes`]).
pub fn write(w: &WeightsSnapshot) -> Vec<u8> {
    let size = MIN_LEN
        + w.variables
            .iter()
            .map(|v| 8 + v.name.len() + 4 * v.shape.len() + 4 * v.data.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, VERSION as usize);
    put_u32(&mut out, w.variables.len());
    for v in &w.variables {
        put_u32(&mut out, v.name.len());
        out.extend_from_slice(v.name.as_bytes());
        put_u32(&mut out, v.shape.len());
        for &d in &v.shape {
            put_u32(&mut out, d);
        }
        for x in &v.data {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A bounds-checked reader over the body (everything before the CRC).
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(err(format!(
                "truncated: {} needs {n} bytes at offset {} but only {} remain",
                what(),
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A `u32` count of items of `item_size` bytes, which must fit in what remains.
    fn count(&mut self, item_size: usize, what: &dyn Fn() -> String) -> Result<usize> {
        let at = self.pos;
        let n = self.u32(what)? as usize;
        if n.checked_mul(item_size)
            .is_none_or(|b| b > self.remaining())
        {
            return Err(err(format!(
                "{} = {n} at offset {at} needs at least {} bytes but only {} remain",
                what(),
                n.saturating_mul(item_size),
                self.remaining()
            )));
        }
        Ok(n)
    }
}

/// Parses and validates a binary snapshot.
pub fn read(bytes: &[u8]) -> Result<WeightsSnapshot> {
    Limits::current().check_bytes(OP, "a binary weights file", bytes.len())?;
    let head = &bytes[..bytes.len().min(4)];
    if head != &MAGIC[..head.len()] {
        return Err(err(format!(
            "bad magic {head:02x?}, expected {:02x?} (\"FWWT\")",
            MAGIC
        )));
    }
    if bytes.len() >= 8 {
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if version != VERSION {
            return Err(err(format!(
                "unsupported version {version} (this build reads version {VERSION})"
            )));
        }
    }
    if bytes.len() < MIN_LEN {
        return Err(err(format!(
            "truncated: {} bytes, a weights file has at least {MIN_LEN}",
            bytes.len()
        )));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let computed = crc32(body);
    if stored != computed {
        return Err(err(format!(
            "checksum mismatch: stored CRC-32 {stored:08x}, computed {computed:08x} over {} bytes; \
             the file is corrupt or truncated",
            body.len()
        )));
    }
    parse_body(body)
}

/// Parses the checksummed body: header, then the variables, then nothing.
fn parse_body(body: &[u8]) -> Result<WeightsSnapshot> {
    let mut c = Cursor {
        bytes: body,
        pos: 8,
    };
    // Each variable takes at least 8 bytes (name length and rank).
    let count = c.count(8, &|| "variable count".into())?;
    // Reserve for what the file can hold, but never from the header alone.
    let mut variables = Vec::with_capacity(count.min(RESERVE_MAX));
    let mut seen = HashSet::new();
    let mut parameters = 0u64;
    for i in 0..count {
        let name_len = c.count(1, &|| format!("name length of variable {i}"))?;
        let raw = c.take(name_len, &|| format!("name of variable {i}"))?;
        let name = std::str::from_utf8(raw)
            .map_err(|e| err(format!("name of variable {i} is not UTF-8: {e}")))?
            .to_string();
        let rank = c.count(4, &|| format!("rank of variable {i} {name:?}"))?;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(c.u32(&|| format!("shape of variable {i} {name:?}"))? as usize);
        }
        let len = tensor_elements(OP, &shape)
            .map_err(|e| e.in_context(format_args!("variable {i} {name:?}")))?;
        if len.checked_mul(4).is_none_or(|b| b > c.remaining()) {
            return Err(err(format!(
                "variable {i} {name:?} of shape {shape:?} needs more data than the {} bytes that remain",
                c.remaining()
            )));
        }
        parameters += len as u64;
        Limits::current().check(
            OP,
            LimitField::ModelParameters,
            "parameters of the snapshot (all variables together)",
            parameters,
        )?;
        let data: Vec<f32> = c
            .take(4 * len, &|| format!("data of variable {i} {name:?}"))?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let v = NamedTensor { name, shape, data };
        v.check().map_err(err)?;
        if !seen.insert(v.name.clone()) {
            return Err(err(format!("duplicate variable name {:?}", v.name)));
        }
        variables.push(v);
    }
    if c.remaining() != 0 {
        return Err(err(format!(
            "{} trailing bytes after the last variable, at offset {}",
            c.remaining(),
            c.pos
        )));
    }
    Ok(WeightsSnapshot { variables })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with a valid checksum over an arbitrary body.
    fn sealed(mut body: Vec<u8>) -> Vec<u8> {
        let crc = crc32(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    fn header(count: u32) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&count.to_le_bytes());
        b
    }

    #[test]
    fn empty_snapshot() {
        let bytes = write(&WeightsSnapshot::default());
        assert_eq!(bytes.len(), MIN_LEN);
        assert_eq!(read(&bytes).unwrap(), WeightsSnapshot::default());
    }

    #[test]
    fn absurd_sizes_with_valid_checksum_are_rejected_without_allocating() {
        let err = read(&sealed(header(u32::MAX))).unwrap_err().to_string();
        assert!(err.contains("variable count"), "{err}");
        let mut b = header(1);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        let err = read(&sealed(b)).unwrap_err().to_string();
        assert!(err.contains("name length"), "{err}");
        // name "w", rank 2, dims [65536, 65536]: 2^32 elements.
        let mut b = header(1);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(b'w');
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&65536u32.to_le_bytes());
        b.extend_from_slice(&65536u32.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        let err = read(&sealed(b)).unwrap_err().to_string();
        assert!(err.contains("\"w\""), "{err}");
    }

    #[test]
    fn trailing_bytes_and_bad_names() {
        let mut b = header(0);
        b.push(0);
        assert!(read(&sealed(b))
            .unwrap_err()
            .to_string()
            .contains("trailing"));
        let mut b = header(1);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(0xFF);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0f32.to_le_bytes());
        assert!(read(&sealed(b)).unwrap_err().to_string().contains("UTF-8"));
    }

    #[test]
    fn version_and_magic() {
        let mut b = header(0);
        b[4] = 2;
        assert!(read(&sealed(b))
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        assert!(read(b"FWXT").unwrap_err().to_string().contains("magic"));
        assert!(read(b"FW").unwrap_err().to_string().contains("truncated"));
        assert!(read(b"").unwrap_err().to_string().contains("truncated"));
    }
}
