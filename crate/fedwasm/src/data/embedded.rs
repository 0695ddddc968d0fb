//! A compact real data set shipped inside the crate: the FEMNIST digits of 10
//! LEAF writers (train and test), so examples and the demo work without any
//! download.
//!
//! # Content
//! The first 10 writers, in sorted id order, that have digits among all LEAF
//! FEMNIST train files of `shared/data/femnist-leaf` (arakotom/flic, MIT,
//! commit 4646796b; see `crate/data/README.md`), with their digit examples
//! from the train and test splits. Decoding gives exactly what
//! `load_leaf_dir` (native builds) gives with `digits_only` for those
//! writers: `x_shape = [784]`, values `k / 255` in `[0, 1]` (background 1.0),
//! `LabelSpec::Class { num_classes: 10 }`.
//!
//! # Binary format (`crate/data/femnist_digits_10.bin`, little-endian)
//! ```text
//! magic     8 bytes  "FWFEMDIG"
//! version   u32      1
//! pixels    u32      values per example (784)
//! classes   u32      number of classes (10)
//! clients   u32      number of writers
//! per writer:
//!   id_len  u8, id (UTF-8, id_len bytes)
//!   n_train u32, n_test u32
//!   labels  n_train + n_test bytes (train first)
//!   rle_len u32, rle (rle_len bytes): the (n_train + n_test) * pixels pixel
//!           bytes k (value k/255), train first, run-length coded: a byte
//!           b < 255 is one pixel b; the pair (255, r) is r (1..=255) pixels 255
//! crc32     u32      CRC-32 (IEEE, as zlib.crc32) of every byte before it
//! ```
//! LEAF stores every pixel as exactly `k / 255` (checked by the generator,
//! `crate/data/pack_femnist.py`), so the `u8` coding is lossless; a pixel is
//! decoded as `(k as f64 / 255.0) as f32`, the same rounding the JSON loader
//! applies to the decimal text.

use crate::checksum::crc32;
use std::collections::BTreeMap;

use super::client_data::ClientData;
use super::element::{ElementSpec, Examples, LabelSpec};
use crate::error::{Error, Result};
use crate::limits::{checked_product, tensor_elements, LimitField, Limits};

const OP: &str = "decode_femnist_pack";

/// The packed FEMNIST digits of 10 writers (format in the module docs).
pub static FEMNIST_DIGITS_10: &[u8] = include_bytes!("../../data/femnist_digits_10.bin");

const MAGIC: &[u8; 8] = b"FWFEMDIG";
const VERSION: u32 = 1;
const WHAT: &str = "FEMNIST digits pack";

/// The embedded FEMNIST digits: `(train, test)`.
///
/// # Errors
/// [`Error::Binary`] if the embedded bytes are corrupt (cannot happen for a
/// correctly built crate; the checksum guards against a damaged file).
pub fn femnist_digits() -> Result<(ClientData, ClientData)> {
    decode_femnist_pack(FEMNIST_DIGITS_10)
}

fn corrupt(detail: impl Into<String>) -> Error {
    Error::Binary {
        what: WHAT.into(),
        detail: detail.into(),
    }
}

/// Decodes a pack in the format of the module docs into `(train, test)`.
/// Writers without test examples are absent from `test`.
///
/// # Errors
/// [`Error::Limit`] for a pack over `max_message_bytes`, or a header whose
/// pixel or example counts exceed the limits (checked before anything is
/// sized from them); [`Error::Binary`] naming what is wrong: bad magic or
/// version, checksum mismatch, truncation, a label out of range, a bad run
/// or trailing bytes.
pub fn decode_femnist_pack(bytes: &[u8]) -> Result<(ClientData, ClientData)> {
    let limits = Limits::current();
    limits.check_bytes(OP, "a FEMNIST pack", bytes.len())?;
    if bytes.len() < MAGIC.len() + 4 || &bytes[..8] != MAGIC {
        return Err(corrupt("bad magic (not a FWFEMDIG file)"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let actual = crc32(body);
    if stored != actual {
        return Err(corrupt(format!(
            "checksum mismatch (stored {stored:#010x}, computed {actual:#010x}): the file is damaged"
        )));
    }
    let mut r = Reader { buf: body, pos: 8 };
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(corrupt(format!(
            "unsupported version {version} (expected {VERSION})"
        )));
    }
    let pixels = r.u32("pixels")? as usize;
    let classes = r.u32("classes")? as usize;
    let n_clients = r.u32("clients")? as usize;
    tensor_elements(OP, &[pixels]).map_err(|e| e.in_context("header field pixels"))?;
    let spec = ElementSpec::new(
        vec![pixels],
        LabelSpec::Class {
            num_classes: classes,
        },
    );
    spec.validate()
        .map_err(|e| corrupt(format!("header field classes: {e}")))?;
    let (mut train, mut test) = (BTreeMap::new(), BTreeMap::new());
    for c in 0..n_clients {
        let id_len = r.take(1, "id length")?[0] as usize;
        let id = std::str::from_utf8(r.take(id_len, "id")?)
            .map_err(|_| corrupt(format!("writer {c}: id is not UTF-8")))?
            .to_string();
        let n_train = r.u32("n_train")? as usize;
        let n_test = r.u32("n_test")? as usize;
        // Both counts are u32: the sum fits in u64, and the limits decide
        // before anything is sized from it.
        let in_writer = |e: Error| e.in_context(format_args!("writer {id}"));
        let n = limits
            .check(
                OP,
                LimitField::ExamplesPerClient,
                "examples (n_train + n_test)",
                n_train as u64 + n_test as u64,
            )
            .map_err(in_writer)? as usize;
        checked_product(
            OP,
            LimitField::TensorElements,
            || format!("pixels of {n} examples of {pixels}"),
            [n, pixels],
        )
        .map_err(in_writer)?;
        let labels: Vec<f32> = r.take(n, "labels")?.iter().map(|&l| l as f32).collect();
        let rle_len = r.u32("rle length")? as usize;
        let rle = r.take(rle_len, "pixels")?;
        let x = decode_rle(rle, n * pixels).map_err(|d| corrupt(format!("writer {id}: {d}")))?;
        let ex = |range: std::ops::Range<usize>| {
            Examples::new(
                spec.clone(),
                x[range.start * pixels..range.end * pixels].to_vec(),
                labels[range].to_vec(),
            )
            .map_err(|e| corrupt(format!("writer {id}: {e}")))
        };
        if n_train > 0 {
            train.insert(id.clone(), ex(0..n_train)?);
        }
        if n_test > 0 {
            test.insert(id.clone(), ex(n_train..n)?);
        }
    }
    if r.pos != body.len() {
        return Err(corrupt(format!("{} trailing bytes", body.len() - r.pos)));
    }
    Ok((
        ClientData::from_clients(spec.clone(), train)?,
        ClientData::from_clients(spec, test)?,
    ))
}

/// Encodes `(train, test)` in the format of the module docs: the inverse
/// of [`decode_femnist_pack`] (`crate/data/pack_femnist.py` writes the same
/// bytes). Writers are the ids of either part, in sorted order.
///
/// # Errors
/// [`Error::Dataset`] when the data does not fit the format: the two parts
/// have different element specs, `x_shape` is not one-dimensional, labels
/// are not classes (at most 256 of them), a pixel is not `k / 255`, an id is
/// longer than 255 bytes or a count does not fit in `u32`.
pub fn encode_femnist_pack(train: &ClientData, test: &ClientData) -> Result<Vec<u8>> {
    let bad = |detail: String| Error::Dataset {
        op: "encode_femnist_pack",
        detail,
    };
    let spec = train.element_spec();
    if test.element_spec() != spec {
        return Err(bad(format!(
            "train and test element specs differ: {spec:?} vs {:?}",
            test.element_spec()
        )));
    }
    let (pixels, classes) = match (&spec.x_shape[..], &spec.label) {
        ([p], LabelSpec::Class { num_classes }) if *num_classes <= 256 => (*p, *num_classes),
        _ => {
            return Err(bad(format!(
                "needs x_shape [pixels] and at most 256 classes, got {spec:?}"
            )))
        }
    };
    let word = |n: usize, what: &str| {
        u32::try_from(n)
            .map(u32::to_le_bytes)
            .map_err(|_| bad(format!("{what} {n} does not fit in u32")))
    };
    let mut ids: Vec<String> = train.client_ids();
    ids.extend(test.client_ids());
    ids.sort();
    ids.dedup();
    let mut out = MAGIC.to_vec();
    for v in [VERSION as usize, pixels, classes, ids.len()] {
        out.extend_from_slice(&word(v, "header field")?);
    }
    let table: Vec<f32> = (0..=255u32).map(|k| (k as f64 / 255.0) as f32).collect();
    for id in &ids {
        let part = |c: &ClientData| c.examples_for_client(id).ok();
        let (tr, te) = (part(train), part(test));
        let parts: Vec<&Examples> = [tr.as_deref(), te.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let id_len = u8::try_from(id.len())
            .map_err(|_| bad(format!("writer id {id:?} is longer than 255 bytes")))?;
        out.push(id_len);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&word(tr.as_ref().map_or(0, |e| e.len()), "n_train")?);
        out.extend_from_slice(&word(te.as_ref().map_or(0, |e| e.len()), "n_test")?);
        for ex in &parts {
            // Labels are checked class ids below `classes` <= 256.
            out.extend(ex.y().iter().map(|&y| y as u8));
        }
        let mut code = Vec::new();
        for ex in &parts {
            for (i, &v) in ex.x().iter().enumerate() {
                let k = (v as f64 * 255.0).round();
                if !(0.0..=255.0).contains(&k) || table[k as usize] != v {
                    return Err(bad(format!(
                        "writer {id}: pixel {v} at offset {i} is not k/255; the u8 coding would be lossy"
                    )));
                }
                code.push(k as u8);
            }
        }
        let rle = encode_rle(&code);
        out.extend_from_slice(&word(rle.len(), "rle length")?);
        out.extend_from_slice(&rle);
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// The run-length coding of the module docs: runs of 255 (up to 255 long)
/// as `(255, r)`, every other byte as itself.
fn encode_rle(pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pixels.len());
    let mut i = 0;
    while i < pixels.len() {
        if pixels[i] == 255 {
            let run = pixels[i..]
                .iter()
                .take(255)
                .take_while(|&&p| p == 255)
                .count();
            out.extend_from_slice(&[255, run as u8]);
            i += run;
        } else {
            out.push(pixels[i]);
            i += 1;
        }
    }
    out
}

fn decode_rle(rle: &[u8], n: usize) -> std::result::Result<Vec<f32>, String> {
    let table: Vec<f32> = (0..=255u32).map(|k| (k as f64 / 255.0) as f32).collect();
    let mut out = Vec::with_capacity(n);
    let mut it = rle.iter();
    while let Some(&b) = it.next() {
        if b == 255 {
            let run = *it.next().ok_or("run without length at end of pixels")? as usize;
            if run == 0 {
                return Err("run of length 0".into());
            }
            out.resize(out.len() + run, 1.0);
        } else {
            out.push(table[b as usize]);
        }
        if out.len() > n {
            return Err(format!("more than {n} pixels"));
        }
    }
    if out.len() != n {
        return Err(format!("{} pixels, expected {n}", out.len()));
    }
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| {
            corrupt(format!(
                "truncated while reading {what} at byte {}",
                self.pos
            ))
        })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_the_decoded_pack_gives_the_same_bytes() {
        let (train, test) = femnist_digits().unwrap();
        let bytes = encode_femnist_pack(&train, &test).unwrap();
        assert_eq!(bytes.len(), FEMNIST_DIGITS_10.len());
        assert!(bytes == FEMNIST_DIGITS_10, "re-encoded pack differs");
        // A smaller pack round-trips too (the fuzz seeds are made this way).
        let small = |c: &ClientData| {
            ClientData::from_clients(
                c.element_spec().clone(),
                c.iter()
                    .take(2)
                    .map(|(id, ex)| {
                        let n = ex.len().min(3);
                        let d = ex.spec().x_len();
                        let e = Examples::new(
                            ex.spec().clone(),
                            ex.x()[..n * d].to_vec(),
                            ex.y()[..n].to_vec(),
                        );
                        (id.to_string(), e.unwrap())
                    })
                    .collect(),
            )
            .unwrap()
        };
        let (tr, te) = (small(&train), small(&test));
        let (tr2, te2) = decode_femnist_pack(&encode_femnist_pack(&tr, &te).unwrap()).unwrap();
        assert_eq!((tr2, te2), (tr, te));
    }

    #[test]
    fn embedded_decodes_and_detects_damage() {
        let (train, test) = femnist_digits().unwrap();
        assert_eq!(train.num_clients(), 10);
        assert!(test.num_clients() > 0);
        assert_eq!(train.element_spec().x_shape, vec![784]);
        let mut bad = FEMNIST_DIGITS_10.to_vec();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        let m = decode_femnist_pack(&bad).unwrap_err().to_string();
        assert!(m.contains("checksum"), "{m}");
        let m = decode_femnist_pack(&FEMNIST_DIGITS_10[..100])
            .unwrap_err()
            .to_string();
        assert!(m.contains("checksum") || m.contains("truncated"), "{m}");
    }
}
