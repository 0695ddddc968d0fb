//! Exact sums: fixed-point accumulators wide enough that adding never
//! rounds, so a sum is the same bits whatever order its terms arrive in, on
//! every target. A round's aggregate and its metric sums go through them.
//!
//! # Layout
//! A [`FixedSum<L>`] is `L` little-endian `u64` limbs holding a two's
//! complement integer `n`; its value is `n * 2^LSB` where `LSB` is the
//! exponent of its least significant bit (a parameter of the accumulator).
//! A term `(-1)^s * m * 2^e` (an integer mantissa `m < 2^64` and `e >= LSB`)
//! is added by shifting `m` to bit `e - LSB` and adding with carries:
//! integer addition is exact and commutative, so the result depends only on
//! the multiset of terms. Reading a sum converts it to the nearest `f64`
//! (ties to even), once.
//!
//! Two shapes are used:
//! * [`DeltaSum`] (6 limbs, `LSB = -149`): sums of `w * x` for a whole
//!   weight `0 <= w <= 2^32` and a finite `f32` `x`, over up to `2^32`
//!   terms: `|w x| < 2^160`, so 384 bits hold any such sum. 48 bytes per
//!   model parameter. Its limbs carry a constant bias (see [`DeltaSum`])
//!   so that adding a term touches two limbs; [`DeltaSums`] keeps a
//!   variable's sums limb-major, so that a pass over an update streams
//!   through those two limbs only (the aggregation's inner loop).
//! * [`F64Sum`] (34 limbs, `LSB = -1074`): sums of any finite `f64` values
//!   (metric sums), over up to `2^64` terms.

/// A fixed-point accumulator of `L` limbs whose least significant bit is
/// worth `2^lsb` (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedSum<const L: usize> {
    limbs: [u64; L],
}

impl<const L: usize> Default for FixedSum<L> {
    fn default() -> Self {
        FixedSum { limbs: [0; L] }
    }
}

impl<const L: usize> FixedSum<L> {
    /// Adds `(-1)^negative * m * 2^shift` (in units of the least significant
    /// bit). `shift + 64` must not pass the top limb; callers guarantee it.
    fn add_shifted(&mut self, negative: bool, m: u64, shift: u32) {
        if m == 0 {
            return;
        }
        let limb = (shift / 64) as usize;
        let bit = shift % 64;
        let wide = (m as u128) << bit;
        let (lo, hi) = (wide as u64, (wide >> 64) as u64);
        if negative {
            self.sub_at(limb, lo, hi);
        } else {
            self.add_at(limb, lo, hi);
        }
    }

    fn add_at(&mut self, limb: usize, lo: u64, hi: u64) {
        let (v, c1) = self.limbs[limb].overflowing_add(lo);
        self.limbs[limb] = v;
        let mut carry = c1 as u64;
        let mut i = limb + 1;
        let mut add = hi;
        while i < L && (add != 0 || carry != 0) {
            let (v, c1) = self.limbs[i].overflowing_add(add);
            let (v, c2) = v.overflowing_add(carry);
            self.limbs[i] = v;
            carry = (c1 | c2) as u64;
            add = 0;
            i += 1;
        }
    }

    fn sub_at(&mut self, limb: usize, lo: u64, hi: u64) {
        let (v, b1) = self.limbs[limb].overflowing_sub(lo);
        self.limbs[limb] = v;
        let mut borrow = b1 as u64;
        let mut i = limb + 1;
        let mut sub = hi;
        while i < L && (sub != 0 || borrow != 0) {
            let (v, b1) = self.limbs[i].overflowing_sub(sub);
            let (v, b2) = v.overflowing_sub(borrow);
            self.limbs[i] = v;
            borrow = (b1 | b2) as u64;
            sub = 0;
            i += 1;
        }
    }

    /// Adds another accumulator of the same scale.
    pub fn add_sum(&mut self, other: &Self) {
        let mut carry = 0u64;
        for (a, &b) in self.limbs.iter_mut().zip(&other.limbs) {
            let (v, c1) = a.overflowing_add(b);
            let (v, c2) = v.overflowing_add(carry);
            *a = v;
            carry = (c1 | c2) as u64;
        }
    }

    fn is_negative(&self) -> bool {
        self.limbs[L - 1] >> 63 == 1
    }

    /// The sum as the nearest `f64` (ties to even), given the exponent of the
    /// least significant bit.
    fn to_f64(&self, lsb: i32) -> f64 {
        let negative = self.is_negative();
        let mut mag = self.limbs;
        if negative {
            // Two's complement negation: invert and add one.
            let mut carry = 1u64;
            for x in mag.iter_mut() {
                let (v, c) = (!*x).overflowing_add(carry);
                *x = v;
                carry = c as u64;
            }
        }
        let Some(top) = (0..L).rev().find(|&i| mag[i] != 0) else {
            return 0.0;
        };
        let top_bit = 64 * top as u32 + (63 - mag[top].leading_zeros());
        // The 64 bits from `top_bit` down, and a sticky bit for all below:
        // with 11 spare bits under f64's 53, rounding the u64 once is exact.
        let start = top_bit.saturating_sub(63);
        let mut chunk = bits_at(&mag, start);
        // Any bit below `start`: whole limbs, then the low bits of its own.
        let (limb, bit) = ((start / 64) as usize, start % 64);
        if mag[..limb].iter().any(|&v| v != 0) || mag[limb] & ((1u64 << bit) - 1) != 0 {
            chunk |= 1;
        }
        let value = scale(chunk as f64, start as i32 + lsb);
        if negative {
            -value
        } else {
            value
        }
    }
}

/// The 64 bits of `mag` starting at bit `start`.
fn bits_at<const L: usize>(mag: &[u64; L], start: u32) -> u64 {
    let (limb, bit) = ((start / 64) as usize, start % 64);
    let lo = mag[limb] >> bit;
    let hi = if bit == 0 || limb + 1 >= L {
        0
    } else {
        mag[limb + 1] << (64 - bit)
    };
    lo | hi
}

/// `x * 2^e`, exact while the result is a normal `f64`.
fn scale(mut x: f64, mut e: i32) -> f64 {
    while e > 1000 {
        x *= pow2(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= pow2(-1000);
        e += 1000;
    }
    x * pow2(e)
}

/// `2^e` for `-1022 <= e <= 1023`, from its bits: the value `2f64.powi(e)`
/// gives there (every step of that is exact), without the libm call
/// (`__powidf2`), which was most of a round's `WeightedMean::mean`.
fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// The integer mantissa and exponent of a finite `f64`: `x = ±m * 2^e`.
fn decompose_f64(x: f64) -> (bool, u64, i32) {
    let bits = x.to_bits();
    let negative = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    if exp == 0 {
        (negative, frac, -1074)
    } else {
        (negative, frac | (1 << 52), exp - 1075)
    }
}

/// The largest weight [`DeltaSum::add`] takes.
pub const MAX_WEIGHT: u64 = 1 << 32;

/// An exact sum of `w * x` terms: `w` a whole number in `0..=2^32`, `x` a
/// finite `f32` (see the module docs).
///
/// The limbs hold the sum plus a bias `B` (the top bit of every limb,
/// `2^(64 k + 63)` for k in 0..6): `n + B mod 2^384`. Without it, a sum that changes
/// sign turns every limb above its terms from zeros to ones or back (a
/// carry walking up to the top limb), and with client updates of random
/// sign that happens at a large fraction of the adds, each a mispredicted
/// branch. With it, the limbs a term lands in sit half-way in their range,
/// and a carry out of them needs the terms of that magnitude to add up to
/// 2^63 times their unit: practically never. The bias changes no value
/// (it is subtracted, exactly, when the sum is read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaSum(FixedSum<6>);

impl Default for DeltaSum {
    fn default() -> Self {
        DeltaSum(FixedSum {
            limbs: [Self::BIAS; 6],
        })
    }
}

impl DeltaSum {
    const LSB: i32 = -149;
    /// Every limb's share of the bias `B = sum over k of 2^(64 k + 63)`.
    const BIAS: u64 = 1 << 63;

    /// The limbs of the sum itself (`n`, without the bias).
    fn unbiased(&self) -> FixedSum<6> {
        let mut n = self.0.clone();
        let mut borrow = false;
        for v in &mut n.limbs {
            let (d, b1) = v.overflowing_sub(Self::BIAS);
            let (d, b2) = d.overflowing_sub(u64::from(borrow));
            *v = d;
            borrow = b1 | b2;
        }
        n
    }

    /// Adds `weight * x`. The caller checks that `weight` is whole and at
    /// most [`MAX_WEIGHT`] and that `x` is finite (a non-finite `x` or
    /// fractional weight would be a logic error: it is ignored in release
    /// builds and asserted in debug builds).
    pub fn add(&mut self, weight: u64, x: f32) {
        debug_assert!(weight <= MAX_WEIGHT && x.is_finite());
        if weight > MAX_WEIGHT {
            return;
        }
        if let Some(t) = Term::new(weight, x) {
            let l = &mut self.0.limbs;
            let (lo, hi, carry) = t.add_to(l[t.limb], l[t.limb + 1]);
            (l[t.limb], l[t.limb + 1]) = (lo, hi);
            if let Some(up) = carry {
                propagate(up, l[t.limb + 2..].iter_mut());
            }
        }
    }

    /// Adds another sum.
    pub fn add_sum(&mut self, other: &DeltaSum) {
        // (n1 + B) + (n2 + B) - B.
        self.0.add_sum(&other.unbiased());
    }

    /// The sum as the nearest `f64`.
    pub fn value(&self) -> f64 {
        self.unbiased().to_f64(Self::LSB)
    }
}

/// One term `weight * x` of a [`DeltaSum`], placed: its two's complement
/// value in the two limbs from `limb` up.
///
/// This is the aggregation's inner loop (once per parameter per update),
/// so it has no branches on the data: `±m w 2^bit` is added as a 128-bit
/// two's complement number to the two limbs it lands in, and only a carry
/// or borrow out of them (never, in practice: see the bias of
/// [`DeltaSum`]) walks the limbs above.
struct Term {
    limb: usize,
    value: u128,
    negative: bool,
}

impl Term {
    /// `None` for a non-finite `x`. The caller checks `weight <=`
    /// [`MAX_WEIGHT`].
    #[inline(always)]
    fn new(weight: u64, x: f32) -> Option<Term> {
        let bits = x.to_bits();
        let exp = (bits >> 23) & 0xFF;
        if exp == 0xFF {
            return None;
        }
        // x = ±m 2^e with e = max(exp, 1) - 150, so the term's bit offset
        // from LSB = -149 is max(exp, 1) - 1.
        let m = u64::from(bits & 0x7F_FFFF) | (u64::from(exp != 0) << 23);
        let shift = exp.max(1) - 1;
        // m < 2^24 and weight <= 2^32: the product fits in 57 bits; at
        // bit < 64 it spans two limbs, the lower at index <= 3 (shift <= 253).
        let p = m * weight;
        let (limb, bit) = ((shift / 64) as usize, shift % 64);
        let value = (u128::from(p >> 1 >> (63 - bit)) << 64) | u128::from(p << bit);
        // All ones when negative (and not zero: -0 is 0, with no sign to
        // extend): -t = (t ^ mask) - mask.
        let negative = bits >> 31 & u32::from(p != 0);
        let mask = 0u128.wrapping_sub(u128::from(negative));
        Some(Term {
            limb,
            value: (value ^ mask).wrapping_sub(mask),
            negative: negative == 1,
        })
    }

    /// The limbs `lo` (at `self.limb`) and `hi` (the next one) with the
    /// term added, and what it adds to the limbs above: the term
    /// sign-extends over them, so a positive one adds its carry (0 or 1)
    /// there, a negative one all ones plus its carry (-1 or 0):
    /// `Some(true)` for +1, `Some(false)` for -1, `None` (the common case)
    /// for nothing.
    #[inline(always)]
    fn add_to(&self, lo: u64, hi: u64) -> (u64, u64, Option<bool>) {
        let window = (u128::from(hi) << 64) | u128::from(lo);
        let (sum, carry) = window.overflowing_add(self.value);
        let up = (carry != self.negative).then_some(carry);
        (sum as u64, (sum >> 64) as u64, up)
    }
}

/// Adds +1 (`up`) or -1 to the number whose limbs, lowest first, are
/// `limbs` (the rare carry of [`Term::add_to`]).
#[cold]
fn propagate<'a>(up: bool, limbs: impl Iterator<Item = &'a mut u64>) {
    for v in limbs {
        let (n, c) = if up {
            v.overflowing_add(1)
        } else {
            v.overflowing_sub(1)
        };
        *v = n;
        if !c {
            break;
        }
    }
}

/// The exponent fields of some `f32`s, in one pass: the lowest of the
/// nonzero values (subnormals count as 1: the same unit, 2^-149; 0xFF when
/// all are zero) and the highest (0xFF when one is not finite).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exponents {
    low: u32,
    high: u32,
}

impl Exponents {
    /// The exponents of `xs`.
    pub fn of(xs: &[f32]) -> Self {
        Self::scan::<false>(xs, 0.0).0
    }

    /// The exponents of `xs` and, with `SQUARES`, `squares` plus the sum of
    /// their squares in `f64`, added in order (else `squares` unchanged):
    /// the finiteness check, the sums' exponents and an L2 norm in one pass.
    pub fn scan<const SQUARES: bool>(xs: &[f32], mut squares: f64) -> (Self, f64) {
        let (mut low, mut high) = (0xFF_u32, 0_u32);
        for &x in xs {
            let bits = x.to_bits();
            let e = (bits >> 23) & 0xFF;
            low = low.min(if bits << 1 != 0 { e.max(1) } else { 0xFF });
            high = high.max(e);
            if SQUARES {
                squares += f64::from(x) * f64::from(x);
            }
        }
        (Exponents { low, high }, squares)
    }

    /// Whether every value was finite.
    pub fn all_finite(&self) -> bool {
        self.high < 0xFF
    }

    /// Whether every value was zero (either sign), for finite values.
    pub fn all_zero(&self) -> bool {
        self.low == 0xFF
    }
}

/// `len` [`DeltaSum`]s (the sums of one variable's elements), limb-major:
/// limb `k` of sum `i` is at `k * len + i`. A term touches two limbs of the
/// six, nearly always the same two for the values of one variable (their
/// exponents are close), so an update's pass streams through those two
/// arrays only: a third of the memory traffic of six limbs side by side.
/// The sums and their bits are those of [`DeltaSum`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaSums {
    len: usize,
    limbs: Vec<u64>,
}

impl DeltaSums {
    /// `len` empty sums.
    pub fn new(len: usize) -> Self {
        DeltaSums {
            len,
            limbs: vec![DeltaSum::BIAS; 6 * len],
        }
    }

    /// The number of sums.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `weight * xs[i]` to sum `i`, for every `i`, under the contract of
    /// [`DeltaSum::add`].
    ///
    /// Two ways, the same integers: when the values' exponents and the
    /// weight leave room (`24 + spread of exponents + bits of weight <= 62`:
    /// deltas of a few decades, any realistic weight), every term is a
    /// whole multiple of the smallest value's unit, `x / unit * weight` is
    /// exact in an `i64` (computed through `f64`, which holds `x / unit`
    /// exactly), and all of them go to the same two limbs at the same bit
    /// offset: a multiply and two constant shifts a value. Otherwise each
    /// value is placed by its own exponent ([`DeltaSum::add`]'s way).
    ///
    /// # Panics
    /// When `xs` does not have [`DeltaSums::len`] values.
    pub fn add(&mut self, weight: u64, xs: &[f32]) {
        self.add_scanned(weight, xs, Exponents::of(xs));
    }

    /// [`DeltaSums::add`] with `Exponents::of(xs)` already computed (the
    /// aggregation's finiteness check is the same pass).
    pub(crate) fn add_scanned(&mut self, weight: u64, xs: &[f32], exponents: Exponents) {
        assert_eq!(xs.len(), self.len, "DeltaSums::add: one value per sum");
        debug_assert!(weight <= MAX_WEIGHT);
        debug_assert_eq!(exponents, Exponents::of(xs));
        if weight > MAX_WEIGHT || weight == 0 {
            return;
        }
        let Exponents { low, high } = exponents;
        if low == 0xFF {
            return; // all zeros
        }
        let weight_bits = u64::BITS - weight.leading_zeros();
        if high < 0xFF && 24 + (high.max(1) - low) + weight_bits <= 62 {
            self.add_anchored(weight, xs, low);
        } else {
            self.add_placed(weight, xs);
        }
    }

    /// The terms as whole multiples of `2^(low - 150)` (`low`: the lowest
    /// exponent field of the nonzero values), under the condition of
    /// [`DeltaSums::add`]: `|x| / 2^(low - 150) < 2^(24 + spread)` is a
    /// whole number below 2^62 over the weight's bits, so the `f64`
    /// product, its conversion and the `i64` product are exact.
    fn add_anchored(&mut self, weight: u64, xs: &[f32], low: u32) {
        let len = self.len;
        // The unit's offset from LSB = -149, in bits.
        let offset = low - 1;
        let (limb, bit) = ((offset / 64) as usize, offset % 64);
        let scale = pow2(150 - low as i32);
        let w = weight as i64;
        let (below, above) = self.limbs.split_at_mut((limb + 1) * len);
        let lows = &mut below[limb * len..];
        let (highs, rest) = above.split_at_mut(len);
        for (i, ((&x, lo), hi)) in xs.iter().zip(lows).zip(highs).enumerate() {
            let t = (f64::from(x) * scale) as i64 * w;
            // t 2^bit as a two's complement 128-bit number (|t| < 2^62).
            let value =
                (u128::from((t >> 1 >> (63 - bit)) as u64) << 64) | u128::from((t as u64) << bit);
            let window = (u128::from(*hi) << 64) | u128::from(*lo);
            let (sum, carry) = window.overflowing_add(value);
            *lo = sum as u64;
            *hi = (sum >> 64) as u64;
            if carry != (t < 0) {
                propagate(carry, rest[i..].iter_mut().step_by(len));
            }
        }
    }

    /// Each term placed by its own exponent ([`Term`]).
    fn add_placed(&mut self, weight: u64, xs: &[f32]) {
        let len = self.len;
        let limbs = &mut self.limbs[..];
        for (i, &x) in xs.iter().enumerate() {
            debug_assert!(x.is_finite());
            let Some(t) = Term::new(weight, x) else {
                continue;
            };
            let at = t.limb * len + i;
            let (lo, hi, carry) = t.add_to(limbs[at], limbs[at + len]);
            (limbs[at], limbs[at + len]) = (lo, hi);
            if let Some(up) = carry {
                propagate(up, limbs[at + 2 * len..].iter_mut().step_by(len));
            }
        }
    }

    /// Sum `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn get(&self, i: usize) -> DeltaSum {
        assert!(i < self.len, "DeltaSums::get: sum {i} of {}", self.len);
        let mut limbs = [0; 6];
        for (k, v) in limbs.iter_mut().enumerate() {
            *v = self.limbs[k * self.len + i];
        }
        DeltaSum(FixedSum { limbs })
    }

    /// Sum `i` as the nearest `f64` ([`DeltaSum::value`]).
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn value(&self, i: usize) -> f64 {
        self.get(i).value()
    }
}

/// An exact sum of finite `f64` values (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct F64Sum(FixedSum<34>);

impl F64Sum {
    const LSB: i32 = -1074;

    /// Adds `x`; a non-finite `x` is ignored (callers check finiteness first;
    /// asserted in debug builds).
    pub fn add(&mut self, x: f64) {
        debug_assert!(x.is_finite());
        if !x.is_finite() {
            return;
        }
        let (negative, m, e) = decompose_f64(x);
        self.0.add_shifted(negative, m, (e - Self::LSB) as u32);
    }

    /// The sum as the nearest `f64`.
    pub fn value(&self) -> f64 {
        self.0.to_f64(Self::LSB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn f64_sum(xs: &[f64]) -> f64 {
        let mut s = F64Sum::default();
        xs.iter().for_each(|&x| s.add(x));
        s.value()
    }

    #[test]
    fn cancellation_is_exact() {
        assert_eq!(f64_sum(&[1e300, 1.0, -1e300]), 1.0);
        assert_eq!(f64_sum(&[1e-300, 1e300, -1e300]), 1e-300);
        // 0.1 + 0.2 - 0.3 of the three f64 values is exactly 2^-55 (f64
        // arithmetic in this order gives 2^-54).
        assert_eq!(f64_sum(&[0.1, 0.2, -0.3]), 2f64.powi(-55));
        assert_eq!(f64_sum(&[]), 0.0);
        assert_eq!(f64_sum(&[-2.5]), -2.5);
        assert_eq!(f64_sum(&[f64::MIN_POSITIVE / 4.0]), f64::MIN_POSITIVE / 4.0);
        assert_eq!(f64_sum(&[f64::MAX, -f64::MAX]), 0.0);
    }

    #[test]
    fn any_order_gives_the_same_bits() {
        let mut rng = Rng::new(7);
        let xs: Vec<f64> = (0..500)
            .map(|i| (rng.uniform() - 0.5) * 10f64.powi((i % 40) - 20))
            .collect();
        let want = f64_sum(&xs);
        for seed in 0..20 {
            let mut ys = xs.clone();
            Rng::new(seed).shuffle(&mut ys);
            assert_eq!(f64_sum(&ys).to_bits(), want.to_bits());
        }
        // And the exact result is within an ulp of a careful f64 sum.
        let mut sorted = xs.clone();
        sorted.sort_by(|a, b| a.abs().partial_cmp(&b.abs()).unwrap());
        let naive: f64 = sorted.iter().sum();
        assert!(
            (naive - want).abs() <= 1e-12 * want.abs().max(1e-300),
            "{naive} vs {want}"
        );
    }

    #[test]
    fn weighted_f32_terms_are_exact_and_order_free() {
        let mut rng = Rng::new(3);
        let terms: Vec<(u64, f32)> = (0..300)
            .map(|i| {
                let w = rng.below(5000);
                let x = ((rng.uniform() - 0.5) * 2f64.powi((i % 60) - 30)) as f32;
                (w, x)
            })
            .collect();
        let sum = |ts: &[(u64, f32)]| {
            let mut s = DeltaSum::default();
            ts.iter().for_each(|&(w, x)| s.add(w, x));
            s.value()
        };
        let want = sum(&terms);
        let mut shuffled = terms.clone();
        Rng::new(11).shuffle(&mut shuffled);
        assert_eq!(sum(&shuffled).to_bits(), want.to_bits());
        // Against an f64 sum of the exact f64 products (each w * x is exact
        // in f64), accumulated by magnitude.
        let mut prods: Vec<f64> = terms.iter().map(|&(w, x)| w as f64 * x as f64).collect();
        prods.sort_by(|a, b| a.abs().partial_cmp(&b.abs()).unwrap());
        let f: f64 = prods.iter().sum();
        assert!((f - want).abs() <= 1e-12 * want.abs(), "{f} vs {want}");
        // Extremes: the largest weight times the largest f32, the smallest subnormal.
        let mut s = DeltaSum::default();
        s.add(MAX_WEIGHT, f32::MAX);
        s.add(MAX_WEIGHT, -f32::MAX);
        s.add(1, f32::from_bits(1));
        assert_eq!(s.value(), f32::from_bits(1) as f64);
        let mut s = DeltaSum::default();
        s.add(MAX_WEIGHT, f32::MAX);
        assert_eq!(s.value(), MAX_WEIGHT as f64 * f32::MAX as f64);
        let mut neg = DeltaSum::default();
        neg.add(3, -1.5);
        assert_eq!(neg.value(), -4.5);
    }

    /// The integer mantissa and exponent of a finite `f32`: `x = ±m * 2^e`
    /// (what `DeltaSum::add` computes inline).
    fn decompose_f32(x: f32) -> (bool, u64, i32) {
        let bits = x.to_bits();
        let negative = bits >> 31 == 1;
        let exp = ((bits >> 23) & 0xff) as i32;
        let frac = (bits & ((1 << 23) - 1)) as u64;
        if exp == 0 {
            (negative, frac, -149)
        } else {
            (negative, frac | (1 << 23), exp - 150)
        }
    }

    /// `DeltaSum::add` as it was written first: through `add_shifted` (on
    /// the biased limbs: the same integer arithmetic mod 2^384).
    fn add_reference(s: &mut DeltaSum, weight: u64, x: f32) {
        let (negative, m, e) = decompose_f32(x);
        s.0.add_shifted(negative, m * weight, (e - DeltaSum::LSB) as u32);
    }

    #[test]
    fn the_branch_free_add_is_the_reference_add_limb_for_limb() {
        let mut rng = Rng::new(17);
        // Values of every exponent (subnormals, zeros of both signs, the
        // extremes), weights of every size; many sign changes and carries
        // across limbs (sums kept small by cancelling terms).
        let special = [
            0.0f32,
            -0.0,
            f32::from_bits(1),
            -f32::from_bits(1),
            f32::MIN_POSITIVE,
            -f32::MAX,
            f32::MAX,
            1.0,
            -1.0,
        ];
        for round in 0..200 {
            let mut fast = DeltaSum::default();
            let mut slow = DeltaSum::default();
            // The sum without the bias, by the general path.
            let mut plain = FixedSum::<6>::default();
            for i in 0..200 {
                let x = if rng.below(10) == 0 {
                    special[rng.below(special.len() as u64) as usize]
                } else {
                    let bits = rng.below(1 << 32) as u32;
                    let x = f32::from_bits(bits);
                    if x.is_finite() {
                        x
                    } else {
                        -1.5
                    }
                };
                let w = match rng.below(4) {
                    0 => 0,
                    1 => 1 + rng.below(10),
                    2 => rng.below(MAX_WEIGHT + 1),
                    _ => MAX_WEIGHT,
                };
                fast.add(w, x);
                add_reference(&mut slow, w, x);
                let (negative, m, e) = decompose_f32(x);
                plain.add_shifted(negative, m * w, (e - DeltaSum::LSB) as u32);
                // Undo some terms: sums near zero change sign often.
                if (round + i) % 3 == 0 {
                    fast.add(w, -x);
                    add_reference(&mut slow, w, -x);
                    let (negative, m, e) = decompose_f32(-x);
                    plain.add_shifted(negative, m * w, (e - DeltaSum::LSB) as u32);
                }
                assert_eq!(fast, slow, "round {round} term {i}: {w} * {x:e}");
                assert_eq!(fast.unbiased(), plain, "round {round} term {i}");
            }
            assert_eq!(fast.value().to_bits(), slow.value().to_bits());
            assert_eq!(
                fast.value().to_bits(),
                plain.to_f64(DeltaSum::LSB).to_bits()
            );
            // Sums of sums too.
            let mut twice = fast.clone();
            twice.add_sum(&fast);
            let mut plain2 = plain.clone();
            plain2.add_sum(&plain);
            assert_eq!(twice.unbiased(), plain2);
        }
    }

    #[test]
    fn limb_major_sums_are_the_sums() {
        let mut rng = Rng::new(23);
        let n = 37;
        let mut many = DeltaSums::new(n);
        let mut one: Vec<DeltaSum> = vec![DeltaSum::default(); n];
        for round in 0..300 {
            // Weights up to 2^32 and values of every exponent: carries out
            // of the two limbs happen (and walk up the limb-major layout).
            let w = if round % 5 == 0 {
                MAX_WEIGHT
            } else {
                rng.below(1000)
            };
            let xs: Vec<f32> = (0..n)
                .map(|_| {
                    let x = f32::from_bits(rng.below(1 << 32) as u32);
                    if x.is_finite() {
                        x
                    } else {
                        f32::MAX
                    }
                })
                .collect();
            many.add(w, &xs);
            for (s, &x) in one.iter_mut().zip(&xs) {
                s.add(w, x);
            }
        }
        for (i, s) in one.iter().enumerate() {
            assert_eq!(&many.get(i), s, "sum {i}");
            assert_eq!(many.value(i).to_bits(), s.value().to_bits());
        }
        assert_eq!(many.len(), n);
        assert!(DeltaSums::new(0).is_empty());

        // Carries out of the two limbs, both ways: the largest term at the
        // top of a limb (2^119 units: exponent field 128, bit 63) overflows
        // the biased window after 2^8 adds.
        let a = f32::from_bits(0x407F_FFFF);
        let mut many = DeltaSums::new(2);
        let mut one = [DeltaSum::default(), DeltaSum::default()];
        let mut plain = [FixedSum::<6>::default(), FixedSum::<6>::default()];
        for k in 0..1500 {
            let xs = if k < 500 { [a, -a] } else { [-a, a] };
            many.add(MAX_WEIGHT, &xs);
            for i in 0..2 {
                one[i].add(MAX_WEIGHT, xs[i]);
                let (negative, m, e) = decompose_f32(xs[i]);
                plain[i].add_shifted(negative, m * MAX_WEIGHT, (e - DeltaSum::LSB) as u32);
                assert_eq!(many.get(i), one[i], "add {k}, sum {i}");
                assert_eq!(one[i].unbiased(), plain[i], "add {k}, sum {i}");
            }
        }
        assert_eq!(many.value(0), -500.0 * MAX_WEIGHT as f64 * a as f64);
    }

    #[test]
    fn anchored_and_placed_sums_are_the_same_integers() {
        let mut rng = Rng::new(29);
        let n = 50;
        // Spreads of exponents from 0 to 45 around a random centre, every
        // weight size, zeros and subnormals; the anchored path when the
        // condition allows it, both paths directly too.
        for case in 0..400u64 {
            let spread = (case % 46) as i32;
            let centre = rng.below(200) as i32 - 120;
            let w = match case % 4 {
                0 => 1 + rng.below(30),
                1 => 1 + rng.below(1 << 20),
                2 => MAX_WEIGHT,
                _ => 1 + rng.below(MAX_WEIGHT),
            };
            let xs: Vec<f32> = (0..n)
                .map(|i| match (case + i) % 17 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::from_bits(1 + rng.below(1 << 23) as u32),
                    _ => {
                        let e = centre - rng.below(spread as u64 + 1) as i32;
                        let m = (rng.uniform() + 0.5) as f32;
                        let x = m * 2f32.powi(e.clamp(-126, 127));
                        if rng.below(2) == 0 {
                            -x
                        } else {
                            x
                        }
                    }
                })
                .collect();
            let mut reference: Vec<DeltaSum> = vec![DeltaSum::default(); n as usize];
            let (mut auto, mut placed, mut anchored) = (
                DeltaSums::new(n as usize),
                DeltaSums::new(n as usize),
                DeltaSums::new(n as usize),
            );
            // Several adds, so that sums change sign and carry.
            for _ in 0..3 {
                for (s, &x) in reference.iter_mut().zip(&xs) {
                    s.add(w, x);
                }
                auto.add(w, &xs);
                placed.add_placed(w, &xs);
                let nonzero = xs.iter().filter(|x| **x != 0.0);
                let low = nonzero
                    .clone()
                    .map(|x| ((x.to_bits() >> 23) & 0xFF).max(1))
                    .min();
                let high = xs.iter().map(|x| (x.to_bits() >> 23) & 0xFF).max().unwrap();
                let fits = low.is_some_and(|low| {
                    24 + (high.max(1) - low) + (u64::BITS - w.leading_zeros()) <= 62
                });
                if fits {
                    anchored.add_anchored(w, &xs, low.unwrap_or(0));
                } else {
                    anchored.add_placed(w, &xs);
                }
            }
            for (i, s) in reference.iter().enumerate() {
                assert_eq!(&auto.get(i), s, "case {case} sum {i}");
                assert_eq!(&placed.get(i), s, "case {case} sum {i}");
                assert_eq!(&anchored.get(i), s, "case {case} sum {i}");
            }
        }
        // The largest anchored terms: spread and weight near the limit (24
        // + 4 + 33 = 61), values at the top of their binade (2^115 units of
        // the window's 2^127 of room), many adds: the window carries, both
        // ways.
        let top = f32::from_bits(0x7E7F_FFFF);
        let xs = [top, -top, f32::from_bits(0x7C00_0000), 0.0];
        let mut sums = DeltaSums::new(4);
        let mut reference = vec![DeltaSum::default(); 4];
        for k in 0..15_000 {
            let xs: Vec<f32> = if k < 5000 {
                xs.to_vec()
            } else {
                xs.iter().map(|x| -x).collect()
            };
            sums.add(MAX_WEIGHT, &xs);
            for (s, &x) in reference.iter_mut().zip(&xs) {
                s.add(MAX_WEIGHT, x);
            }
        }
        for (i, s) in reference.iter().enumerate() {
            assert_eq!(&sums.get(i), s, "sum {i}");
        }
    }

    #[test]
    fn pow2_is_powi() {
        for e in -1022..=1023 {
            assert_eq!(pow2(e).to_bits(), 2f64.powi(e).to_bits(), "2^{e}");
        }
    }

    #[test]
    fn rounding_to_f64_is_to_nearest_even() {
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even gives 2^53.
        let mut s = F64Sum::default();
        s.add(2f64.powi(53));
        s.add(1.0);
        assert_eq!(s.value(), 2f64.powi(53));
        // 2^53 + 1 + 2^-10 is past the tie: rounds up.
        s.add(2f64.powi(-10));
        assert_eq!(s.value(), 2f64.powi(53) + 2.0);
        // 2^53 + 3 is a tie between 2^53 + 2 and 2^53 + 4: even gives + 4.
        let mut t = F64Sum::default();
        t.add(2f64.powi(53));
        t.add(3.0);
        assert_eq!(t.value(), 2f64.powi(53) + 4.0);
    }
}
