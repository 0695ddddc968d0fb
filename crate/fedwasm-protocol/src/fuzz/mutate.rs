//! The case generator: a seeded splitmix64 and the mutators (see the
//! parent module's docs for the list).

use std::borrow::Cow;

use super::Target;

/// splitmix64: a small, seedable, well-mixed generator (self-contained so
/// the cases of a seed never change with another module's RNG).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `1 / n`.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes that tend to matter to parsers: zero, all-ones, sign bits,
/// JSON and CSV punctuation, digits, quotes, escapes, the RLE marker.
const BYTES: &[u8] = &[
    0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, b'0', b'1', b'9', b'-', b'.', b'e', b'"', b'\\', b'[',
    b']', b'{', b'}', b',', b':', b'\n', b'\r', b'\t', b' ', b'n', b'u', b'\x1b',
];

/// Decimal replacements for a number in text: what a hostile shape, count
/// or value would be.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "-0",
    "2",
    "255",
    "256",
    "65535",
    "65536",
    "16777217",
    "262145",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "1e38",
    "3.5e38",
    "1e309",
    "-1e309",
    "1.5",
    "NaN",
    "0.000000000000000000000000000000000000000000001",
];

/// The first `n` bytes at `pos` as a little-endian number.
fn read_le(bytes: &[u8], pos: usize, n: usize) -> u64 {
    let mut word = [0u8; 8];
    word[..n].copy_from_slice(&bytes[pos..pos + n]);
    u64::from_le_bytes(word)
}

fn write_le(bytes: &mut [u8], pos: usize, n: usize, v: u64) {
    for (i, b) in bytes[pos..pos + n].iter_mut().enumerate() {
        *b = (v >> (8 * i)) as u8;
    }
}

/// A random range `a..b` of `0..len` (empty when `len` is 0), mostly short.
fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let a = rng.below(len + 1);
    let max = if rng.one_in(8) {
        len - a
    } else {
        64.min(len - a)
    };
    (a, a + rng.below(max + 1))
}

/// Rewrites one little-endian `width`-byte field that could be a length or
/// count (a value in `1..=len`; any field when there is none).
fn edit_length_field(rng: &mut Rng, input: &mut [u8], width: usize) {
    if input.len() < width {
        return;
    }
    let len = input.len() as u64;
    // Reservoir-sample one plausible field.
    let (mut chosen, mut seen) = (None, 0usize);
    for pos in 0..=input.len() - width {
        let v = read_le(input, pos, width);
        if v >= 1 && v <= len {
            seen += 1;
            if rng.below(seen) == 0 {
                chosen = Some(pos);
            }
        }
    }
    let pos = chosen.unwrap_or_else(|| rng.below(input.len() - width + 1));
    let v = read_le(input, pos, width);
    let max = if width == 4 {
        u32::MAX as u64
    } else {
        u64::MAX
    };
    let new = match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => v.wrapping_sub(1),
        3 => v.wrapping_add(1),
        4 => v.wrapping_mul(2),
        5 => v.wrapping_add(len),
        6 => max,
        7 => max - 1,
        8 => 1 << 31,
        9 => 1 << 30,
        10 => 1 << 24,
        11 => 1 << 16,
        12 if width == 8 => 1 << 32,
        12 => max >> 2,
        _ => rng.next(),
    } & max;
    write_le(input, pos, width, new);
}

/// Replaces one run of ASCII digits with a hostile decimal.
fn edit_number(rng: &mut Rng, input: &mut Vec<u8>) {
    let mut runs = 0usize;
    let mut chosen = None;
    let mut i = 0;
    while i < input.len() {
        if input[i].is_ascii_digit() {
            let start = i;
            while i < input.len() && input[i].is_ascii_digit() {
                i += 1;
            }
            runs += 1;
            if rng.below(runs) == 0 {
                chosen = Some((start, i));
            }
        } else {
            i += 1;
        }
    }
    let Some((a, b)) = chosen else { return };
    let new: Vec<u8> = if rng.one_in(6) {
        let v: u64 = String::from_utf8_lossy(&input[a..b]).parse().unwrap_or(0);
        let d = if rng.one_in(2) {
            v.wrapping_add(1)
        } else {
            v.wrapping_sub(1)
        };
        d.to_string().into_bytes()
    } else {
        rng.pick(NUMBERS).as_bytes().to_vec()
    };
    input.splice(a..b, new);
}

/// Applies one random mutation to `input`.
fn mutate_once(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>, max_bytes: usize) {
    let len = input.len();
    match rng.below(20) {
        // Bit flips.
        0..=2 if len > 0 => {
            for _ in 0..1 + rng.below(4) {
                let p = rng.below(len);
                input[p] ^= 1 << rng.below(8);
            }
        }
        // Byte sets.
        3 | 4 if len > 0 => {
            let p = rng.below(len);
            input[p] = if rng.one_in(2) {
                *rng.pick(BYTES)
            } else {
                rng.next() as u8
            };
        }
        // Truncation (rarely from the front).
        5 => {
            let cut = rng.below(len + 1);
            if rng.one_in(8) {
                input.drain(..cut);
            } else {
                input.truncate(cut);
            }
        }
        // Length fields.
        6..=8 => {
            let width = if rng.one_in(3) { 8 } else { 4 };
            edit_length_field(rng, input, width)
        }
        // Numbers in text.
        9 | 10 => edit_number(rng, input),
        // Splice with a seed.
        11 => {
            let other = rng.pick(seeds);
            let a = rng.below(len + 1);
            let b = rng.below(other.len() + 1);
            input.truncate(a);
            input.extend_from_slice(&other[b..]);
        }
        // Insert a run: random bytes, one repeated byte, or a chunk of a seed.
        12 | 13 => {
            let p = rng.below(len + 1);
            let n = if rng.one_in(16) {
                rng.below(4096)
            } else {
                1 + rng.below(64)
            };
            let run: Vec<u8> = match rng.below(3) {
                0 => (0..n).map(|_| rng.next() as u8).collect(),
                1 => vec![*rng.pick(BYTES); n],
                _ => {
                    let other = rng.pick(seeds);
                    let (a, b) = range(rng, other.len());
                    other[a..b].to_vec()
                }
            };
            input.splice(p..p, run);
        }
        // Delete a run.
        14 | 15 => {
            let (a, b) = range(rng, len);
            input.drain(a..b);
        }
        // Duplicate a chunk of the input elsewhere (repeats a record).
        16 | 17 => {
            let (a, b) = range(rng, len);
            let chunk = input[a..b].to_vec();
            let most = if rng.one_in(8) { 64 } else { 3 };
            for _ in 0..1 + rng.below(most) {
                let p = rng.below(input.len() + 1);
                input.splice(p..p, chunk.iter().copied());
                if input.len() > max_bytes {
                    break;
                }
            }
        }
        // Huge: grow past the message limit (rarely), or by a long run.
        18 if rng.one_in(16) => {
            let target = max_bytes + 1 + rng.below(64);
            let fill = *rng.pick(BYTES);
            input.resize(target.max(len), fill);
        }
        _ => {
            let p = rng.below(len + 1);
            input.splice(
                p..p,
                std::iter::repeat_n(*rng.pick(BYTES), 1 + rng.below(1 << 12)),
            );
        }
    }
    // Keep inputs bounded: past twice the limit, decoders refuse them anyway.
    input.truncate(2 * max_bytes + 64);
}

/// The input of case `case` of a run of `target` with generator seed `seed`
/// (see the module docs), with `max_bytes` the run's message limit.
pub fn case_input(target: &Target, seed: u64, case: u64, max_bytes: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ case.wrapping_mul(0xD1B5_4A32_D192_ED03));
    rng.next();
    if target.seeds.is_empty() {
        return Vec::new();
    }
    let mut input = rng.pick(&target.seeds).clone();
    let n = if rng.one_in(4) {
        1 + rng.below(8)
    } else {
        1 + rng.below(3)
    };
    for _ in 0..n {
        mutate_once(&mut rng, &target.seeds, &mut input, max_bytes);
    }
    if let Some(reseal) = target.reseal {
        if rng.one_in(2) {
            reseal(&mut input);
        }
    }
    if target.text {
        if let Cow::Owned(s) = String::from_utf8_lossy(&input) {
            return s.into_bytes();
        }
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_field_edits_find_counts() {
        // Magic, a count of 5, five bytes: the count is the one plausible
        // length of the input (1..=len) among its u32 fields.
        let mut seed = b"LEN1".to_vec();
        seed.extend_from_slice(&5u32.to_le_bytes());
        seed.extend_from_slice(b"hello");
        let mut rng = Rng::new(5);
        let mut hits = 0;
        for _ in 0..200 {
            let mut s = seed.clone();
            edit_length_field(&mut rng, &mut s, 4);
            if s[..4] == *b"LEN1" && s[4..8] != 5u32.to_le_bytes() {
                hits += 1;
            }
        }
        assert!(hits > 20, "{hits}");
    }

    #[test]
    fn number_edits_replace_a_run_of_digits() {
        let mut rng = Rng::new(9);
        let mut changed = 0;
        for _ in 0..100 {
            let mut s = b"{\"shape\":[12,34]}".to_vec();
            edit_number(&mut rng, &mut s);
            let t = String::from_utf8(s).unwrap();
            assert!(t.starts_with("{\"shape\":["), "{t}");
            changed += usize::from(t != "{\"shape\":[12,34]}");
        }
        assert!(changed > 80, "{changed}");
    }
}
