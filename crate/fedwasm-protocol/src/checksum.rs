//! Checksums and fingerprints.
//!
//! * [`crc32`]: IEEE CRC-32 (the zlib / PNG / Ethernet checksum): reflected
//!   polynomial `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`. It
//!   guards every binary encoding, so it runs over every byte of every
//!   update: slicing-by-16 (16 bytes a step through 16 tables of 256
//!   entries, 16 KiB, built on first use: as a constant they would be 16 KiB
//!   of the aggregator's 200 KiB wasm), the byte-at-a-time table (built at
//!   compile time) for the tail.
//! * [`fnv1a64`]: 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime
//!   `0x100000001b3`), for model fingerprints.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The byte-at-a-time lookup table.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The slicing tables: `t[k][b]` is the CRC state after byte `b` followed
/// by `k` zero bytes (`t[0]` is [`TABLE`]). Built on first use, by
/// whichever threads get there first: each writes the same values (relaxed
/// atomic stores, which compile to plain stores), then marks them ready.
/// (A `OnceLock` costs the aggregator's wasm its `Once` machinery.)
fn slicing_tables() -> &'static [[AtomicU32; 256]; 16] {
    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: AtomicU32 = AtomicU32::new(0);
    #[allow(clippy::declare_interior_mutable_const)]
    const ROW: [AtomicU32; 256] = [ZERO; 256];
    static TABLES: [[AtomicU32; 256]; 16] = [ROW; 16];
    static READY: AtomicBool = AtomicBool::new(false);
    if !READY.load(Ordering::Acquire) {
        for (b, &v) in TABLE.iter().enumerate() {
            let mut c = v;
            for row in &TABLES {
                row[b].store(c, Ordering::Relaxed);
                c = (c >> 8) ^ TABLE[(c & 0xFF) as usize];
            }
        }
        READY.store(true, Ordering::Release);
    }
    &TABLES
}

/// CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    let mut blocks = bytes.chunks_exact(16);
    if blocks.len() > 0 {
        let t = slicing_tables();
        for b in &mut blocks {
            // (Always 16 bytes: `chunks_exact`.)
            let b: &[u8; 16] = b.try_into().unwrap_or(&[0; 16]);
            // Byte j of the block moves through 15 - j zero bytes. The
            // first four meet the state; the other twelve are table
            // indices as they are (one byte load each, no shifts or masks).
            let s = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let at = |k: usize, i: u32| t[k][(i & 0xFF) as usize].load(Ordering::Relaxed);
            c = at(15, s) ^ at(14, s >> 8) ^ at(13, s >> 16) ^ at(12, s >> 24);
            c ^=
                at(11, b[4].into()) ^ at(10, b[5].into()) ^ at(9, b[6].into()) ^ at(8, b[7].into());
            c ^=
                at(7, b[8].into()) ^ at(6, b[9].into()) ^ at(5, b[10].into()) ^ at(4, b[11].into());
            c ^= at(3, b[12].into())
                ^ at(2, b[13].into())
                ^ at(1, b[14].into())
                ^ at(0, b[15].into());
        }
    }
    !blocks.remainder().iter().fold(c, |c, &b| {
        TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// 64-bit FNV-1a of `bytes` (see the module docs).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_check_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn slicing_by_16_is_the_byte_at_a_time_crc() {
        let bytewise = |bytes: &[u8]| {
            !bytes.iter().fold(!0u32, |c, &b| {
                TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8)
            })
        };
        let data: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        // Every length across the 16-byte blocks and tails, every offset.
        for start in 0..17 {
            for len in (0..80).chain([255, 256, 257, 983 - start]) {
                let s = &data[start..start + len];
                assert_eq!(crc32(s), bytewise(s), "start {start} len {len}");
            }
        }
    }

    #[test]
    fn check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }
}
