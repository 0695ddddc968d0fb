//! A mutation fuzzer for every decoder of untrusted bytes.
//!
//! A decoder registers itself as a [`Target`]: a name, a few valid inputs
//! (seeds) and a function that decodes one input, returning the decoder's
//! `Result`. [`run`] then decodes `cases` mutations of the seeds, each under
//! [`std::panic::catch_unwind`], with lowered [`Limits`] in force
//! ([`FuzzConfig::LIMITS`]), and reports per decoder ([`FuzzReport`]):
//! panics, the largest single allocation, and allocations over what the
//! limits allow ([`FuzzConfig::max_alloc_bytes`]). Errors are the expected
//! outcome; they are counted by [`crate::Error::code`].
//!
//! # Registering a decoder
//! One line where the targets are listed (`fedwasm::fuzz::targets` for the
//! engine's decoders, [`protocol_targets`] for this crate's):
//! ```
//! use fedwasm_protocol::fuzz::{reseal_crc32_trailer, Target};
//! # fn decode(_: &[u8]) -> fedwasm_protocol::Result<()> { Ok(()) }
//! # let seeds = vec![vec![0u8; 8]];
//! let t = Target::new("my_message", seeds, |b| decode(b).map(drop))
//!     .resealed_with(reseal_crc32_trailer);
//! ```
//! [`Target::text`] is the same for decoders of text (JSON, CSV): inputs
//! are converted with [`String::from_utf8_lossy`], as a host would.
//! A checksummed format names a *reseal* function: half of its cases get a
//! fresh checksum after mutation, so that they reach the structure behind it.
//!
//! # Cases
//! Case `i` of a run with seed `s` is a pure function of `(s, i)` and the
//! target's seeds ([`case_input`] rebuilds it): one seed, then one to eight
//! mutations drawn from bit flips, byte sets, truncations, length-field edits
//! (a little-endian `u32`/`u64` whose value could be a length or count,
//! rewritten to 0, ±1, double, `u32::MAX`, 2^31, ..), decimal-number edits
//! in text (a shape or count in JSON or CSV, rewritten to 2^32, 10^20, -1,
//! ..), splices of two seeds, inserted and deleted runs, duplicated chunks,
//! and (rarely) inputs grown past [`Limits::max_message_bytes`].
//!
//! # Counting allocations
//! [`CountingAlloc`] must be the process's global allocator (the `fedwasm`
//! binary and the fuzz tests install it); it counts per thread, and only
//! while a case runs. Without it the report says so
//! ([`FuzzReport::allocations_counted`]) and does not pass.

mod alloc;
mod mutate;
mod targets;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use crate::checksum::crc32;
use crate::error::Result;
use crate::limits::Limits;

pub use alloc::CountingAlloc;
pub use mutate::case_input;
pub use targets::protocol_targets;

thread_local! {
    /// The message of the last panic caught on this thread during a run.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Panics on this thread are being caught by a run.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

/// Decodes one input; `Ok` or a typed error are both fine, a panic is not.
pub type DecodeFn = Box<dyn Fn(&[u8]) -> Result<()> + Send + Sync>;

/// One decoder under test. See the module docs.
pub struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    decode: DecodeFn,
    reseal: Option<fn(&mut Vec<u8>)>,
    /// Cases are made valid UTF-8 (lossily) before they are decoded.
    text: bool,
}

impl Target {
    /// A decoder of bytes, with valid `seeds` to mutate.
    pub fn new(
        name: &'static str,
        seeds: Vec<Vec<u8>>,
        decode: impl Fn(&[u8]) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        Target {
            name,
            seeds,
            decode: Box::new(decode),
            reseal: None,
            text: false,
        }
    }

    /// A decoder of text: each case is converted with
    /// [`String::from_utf8_lossy`] when it is made (as a host would before
    /// calling the decoder; the conversion is not counted as the decoder's).
    pub fn text(
        name: &'static str,
        seeds: Vec<String>,
        decode: impl Fn(&str) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        let mut t = Target::new(
            name,
            seeds.into_iter().map(String::into_bytes).collect(),
            move |b| decode(&String::from_utf8_lossy(b)),
        );
        t.text = true;
        t
    }

    /// Half of the mutated cases get `reseal` applied (a fresh checksum).
    pub fn resealed_with(mut self, reseal: fn(&mut Vec<u8>)) -> Self {
        self.reseal = Some(reseal);
        self
    }

    /// The decoder's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The valid inputs the cases are made from.
    pub fn seeds(&self) -> &[Vec<u8>] {
        &self.seeds
    }

    /// Decodes `input` (outside any counting or panic catching).
    ///
    /// # Errors
    /// The decoder's.
    pub fn decode(&self, input: &[u8]) -> Result<()> {
        (self.decode)(input)
    }
}

/// Recomputes the CRC-32 trailer of a "body, then the little-endian
/// CRC-32 of the body" input (the weights and FEMNIST pack formats).
/// Inputs shorter than 4 bytes are left alone.
// A `Vec`, as `Target::resealed_with` takes: other formats' reseals may
// resize (a length prefix).
#[allow(clippy::ptr_arg)]
pub fn reseal_crc32_trailer(bytes: &mut Vec<u8>) {
    if let Some(body) = bytes.len().checked_sub(4) {
        let crc = crc32(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// How [`run`] fuzzes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuzzConfig {
    /// Cases per decoder.
    pub cases: u64,
    /// Seed of the case generator ([`case_input`]).
    pub seed: u64,
    /// The limits in force while the cases run (restored afterwards).
    pub limits: Limits,
    /// One allocation larger than this is counted as over the limits.
    pub max_alloc_bytes: u64,
}

impl FuzzConfig {
    /// The limits a fuzz run sets: low enough that an allocation sized from
    /// a header field instead of a checked limit stands out, high enough for
    /// every seed.
    pub const LIMITS: Limits = Limits {
        max_tensor_elements: 1 << 16,
        max_model_parameters: 1 << 16,
        max_examples_per_client: 1 << 12,
        max_message_bytes: 1 << 18,
    };

    /// `cases` cases per decoder from `seed`, under [`FuzzConfig::LIMITS`]
    /// and [`FuzzConfig::alloc_bound`] of them.
    pub fn new(cases: u64, seed: u64) -> Self {
        FuzzConfig {
            cases,
            seed,
            limits: Self::LIMITS,
            max_alloc_bytes: Self::alloc_bound(&Self::LIMITS),
        }
    }

    /// The largest single allocation `limits` allow a decoder: 32 times the
    /// largest of the message size and the bytes of a largest tensor or
    /// model (f32). The factor is what parsing JSON within the limits can
    /// cost: an array of `serde_json::Value`s holds 32 bytes per element,
    /// an element can be 2 bytes of text (`0,`), and a growing `Vec`
    /// doubles. A size read from a header and trusted is gigabytes, far
    /// past it (with [`FuzzConfig::LIMITS`] the bound is 8 MiB).
    pub fn alloc_bound(limits: &Limits) -> u64 {
        let biggest = limits
            .max_message_bytes
            .max(limits.max_tensor_elements.saturating_mul(4))
            .max(limits.max_model_parameters.saturating_mul(4));
        biggest.saturating_mul(32)
    }
}

/// One case worth a look: where it was and what happened.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CaseNote {
    /// The case index ([`case_input`] rebuilds the input).
    pub case: u64,
    /// The input's length in bytes.
    pub input_len: usize,
    /// The panic message, or the allocation size.
    pub detail: String,
}

/// What [`run`] found for one decoder.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FuzzReport {
    /// The target's name.
    pub decoder: String,
    /// Cases run (mutated inputs).
    pub cases: u64,
    /// Cases that panicked.
    pub panics: u64,
    /// Cases the decoder accepted.
    pub accepted: u64,
    /// Cases the decoder refused, by [`crate::Error::code`].
    pub errors: BTreeMap<String, u64>,
    /// Seeds the decoder refused (should be none: the cases would test little).
    pub seeds_refused: Vec<String>,
    /// The largest single allocation (bytes) while a case ran.
    pub max_alloc_bytes: u64,
    /// The bound one allocation may not exceed ([`FuzzConfig::max_alloc_bytes`]).
    pub alloc_limit_bytes: u64,
    /// Allocations over [`FuzzReport::alloc_limit_bytes`].
    pub over_limit_allocs: u64,
    /// Whether [`CountingAlloc`] is the global allocator (else the
    /// allocation figures are zeros, and the report does not pass).
    pub allocations_counted: bool,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// The slowest single case, milliseconds.
    pub slowest_case_ms: f64,
    /// The first case that panicked.
    pub first_panic: Option<CaseNote>,
    /// The first case with an allocation over the bound.
    pub first_over_limit: Option<CaseNote>,
}

impl FuzzReport {
    /// No panics, no allocation over the bound, allocations counted, every
    /// seed accepted.
    pub fn passed(&self) -> bool {
        self.panics == 0
            && self.over_limit_allocs == 0
            && self.allocations_counted
            && self.seeds_refused.is_empty()
    }
}

// ---- the runner ----

/// The message of a panic payload.
fn payload_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".into()
    }
}

/// The message (and location) of the panic just caught on this thread.
fn caught(p: &(dyn std::any::Any + Send)) -> String {
    PANIC
        .with(|m| m.borrow_mut().take())
        .unwrap_or_else(|| payload_message(p))
}

/// Installs a panic hook that keeps the message (with its location) of
/// panics on capturing threads quiet, and passes others on.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.try_with(Cell::get).unwrap_or(false) {
                let at = info
                    .location()
                    .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
                let msg = format!("{}{at}", payload_message(info.payload()));
                let _ = PANIC.try_with(|p| *p.borrow_mut() = Some(msg));
            } else {
                previous(info)
            }
        }));
    });
}

/// Fuzzes one target (see the module docs). Sets `config.limits` for the
/// run and restores the previous limits afterwards.
pub fn run(target: &Target, config: &FuzzConfig) -> FuzzReport {
    install_quiet_hook();
    let previous = config.limits.set();
    let max_bytes = usize::try_from(config.limits.max_message_bytes).unwrap_or(usize::MAX);
    let mut report = FuzzReport {
        decoder: target.name.to_string(),
        cases: 0,
        panics: 0,
        accepted: 0,
        errors: BTreeMap::new(),
        seeds_refused: Vec::new(),
        max_alloc_bytes: 0,
        alloc_limit_bytes: config.max_alloc_bytes,
        over_limit_allocs: 0,
        allocations_counted: false,
        seconds: 0.0,
        slowest_case_ms: 0.0,
        first_panic: None,
        first_over_limit: None,
    };
    CAPTURING.with(|c| c.set(true));
    for (i, seed) in target.seeds.iter().enumerate() {
        match catch_unwind(AssertUnwindSafe(|| target.decode(seed))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report.seeds_refused.push(format!("seed {i}: {e}")),
            Err(p) => report
                .seeds_refused
                .push(format!("seed {i}: panicked: {}", caught(&*p))),
        }
    }
    let start = Instant::now();
    let mut slowest = 0f64;
    for case in 0..config.cases {
        let input = case_input(target, config.seed, case, max_bytes);
        let t0 = Instant::now();
        let (outcome, max, over, over_size) = alloc::counting(config.max_alloc_bytes, || {
            catch_unwind(AssertUnwindSafe(|| target.decode(&input)))
        });
        slowest = slowest.max(t0.elapsed().as_secs_f64());
        report.cases += 1;
        report.max_alloc_bytes = report.max_alloc_bytes.max(max);
        report.over_limit_allocs += over;
        if over > 0 && report.first_over_limit.is_none() {
            report.first_over_limit = Some(CaseNote {
                case,
                input_len: input.len(),
                detail: format!("allocation of {over_size} bytes"),
            });
        }
        match outcome {
            Ok(Ok(())) => report.accepted += 1,
            Ok(Err(e)) => *report.errors.entry(e.code().to_string()).or_default() += 1,
            Err(p) => {
                report.panics += 1;
                if report.first_panic.is_none() {
                    report.first_panic = Some(CaseNote {
                        case,
                        input_len: input.len(),
                        detail: caught(&*p),
                    });
                }
            }
        }
    }
    CAPTURING.with(|c| c.set(false));
    report.seconds = start.elapsed().as_secs_f64();
    report.slowest_case_ms = slowest * 1e3;
    report.allocations_counted = alloc::installed();
    previous.set();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[global_allocator]
    static ALLOC: CountingAlloc = CountingAlloc;

    /// A little format: magic "LEN1", a u32 count, that many bytes, CRC-32.
    fn seal(mut body: Vec<u8>) -> Vec<u8> {
        body.extend_from_slice(&[0; 4]);
        reseal_crc32_trailer(&mut body);
        body
    }

    fn seed() -> Vec<u8> {
        let mut b = b"LEN1".to_vec();
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(b"hello");
        seal(b)
    }

    fn bad(detail: &str) -> Error {
        Error::Binary {
            what: "test".into(),
            detail: detail.into(),
        }
    }

    /// Parses the format; `trust_count` reserves from the count unchecked.
    fn parse(b: &[u8], trust_count: bool) -> Result<()> {
        Limits::current().check_bytes("parse", "input", b.len())?;
        if b.len() < 12 || &b[..4] != b"LEN1" {
            return Err(bad("magic"));
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32(body).to_le_bytes() != crc {
            return Err(bad("checksum"));
        }
        let n = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if trust_count {
            // A reservation sized by the header (try_reserve: a refused
            // request is an error here, not an abort).
            let mut v: Vec<u8> = Vec::new();
            let _ = v.try_reserve(n.saturating_mul(64));
        }
        if n != body.len() - 8 {
            return Err(bad("count"));
        }
        Ok(())
    }

    #[test]
    fn a_sound_decoder_passes_and_cases_reach_past_the_checksum() {
        let t = Target::new("sound", vec![seed()], |b| parse(b, false))
            .resealed_with(reseal_crc32_trailer);
        let r = run(&t, &FuzzConfig::new(4000, 7));
        assert!(r.passed(), "{r:?}");
        assert_eq!(r.cases, 4000);
        assert_eq!(r.accepted + r.errors.values().sum::<u64>(), 4000);
        // Resealed cases get past the checksum (some to the count check) and
        // some grow past the message limit.
        assert!(r.errors.get("limit").copied().unwrap_or(0) > 0, "{r:?}");
        assert!(r.allocations_counted && r.max_alloc_bytes > 0);
        // Every case is reproducible from (seed, case).
        let again = case_input(&t, 7, 123, 1 << 20);
        assert_eq!(again, case_input(&t, 7, 123, 1 << 20));
        assert_ne!(again, case_input(&t, 8, 123, 1 << 20));
    }

    #[test]
    fn panics_and_allocations_from_header_fields_are_counted() {
        let panicky = Target::new("panicky", vec![seed()], |b| {
            let n = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
            std::hint::black_box(b[8 + n]);
            Ok(())
        });
        let r = run(&panicky, &FuzzConfig::new(2000, 1));
        assert!(r.panics > 0 && !r.passed(), "{r:?}");
        let note = r.first_panic.as_ref().unwrap();
        assert!(note.detail.contains("index out of bounds"), "{note:?}");
        // The note's case reproduces the panic.
        let input = case_input(
            &panicky,
            1,
            note.case,
            FuzzConfig::LIMITS.max_message_bytes as usize,
        );
        assert!(catch_unwind(AssertUnwindSafe(|| panicky.decode(&input))).is_err());

        let greedy = Target::new("greedy", vec![seed()], |b| parse(b, true))
            .resealed_with(reseal_crc32_trailer);
        let r = run(&greedy, &FuzzConfig::new(2000, 1));
        assert_eq!(r.panics, 0);
        assert!(r.over_limit_allocs > 0 && !r.passed(), "{r:?}");
        assert!(r.max_alloc_bytes > r.alloc_limit_bytes);
        assert!(r.first_over_limit.is_some());
    }

    #[test]
    fn a_refused_seed_fails_the_run() {
        let t = Target::new("strict", vec![b"nope".to_vec()], |b| parse(b, false));
        let r = run(&t, &FuzzConfig::new(10, 1));
        assert_eq!(r.seeds_refused.len(), 1);
        assert!(!r.passed());
    }

    #[test]
    fn text_targets_see_lossy_utf8_and_numbers_get_edited() {
        let t = Target::text("text", vec!["{\"n\": [12, 34]}".into()], |s| {
            if s.contains("4294967296") || s.contains("18446744073709551616") {
                Err(bad("huge"))
            } else {
                Ok(())
            }
        });
        let r = run(&t, &FuzzConfig::new(3000, 3));
        assert!(r.errors.get("bad_data").copied().unwrap_or(0) > 0, "{r:?}");
    }
}
