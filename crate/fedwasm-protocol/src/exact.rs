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
//!   model parameter.
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
        if (0..start).any(|b| mag[(b / 64) as usize] >> (b % 64) & 1 == 1) {
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
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e)
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

/// The integer mantissa and exponent of a finite `f32`: `x = ±m * 2^e`.
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

/// The largest weight [`DeltaSum::add`] takes.
pub const MAX_WEIGHT: u64 = 1 << 32;

/// An exact sum of `w * x` terms: `w` a whole number in `0..=2^32`, `x` a
/// finite `f32` (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeltaSum(FixedSum<6>);

impl DeltaSum {
    const LSB: i32 = -149;

    /// Adds `weight * x`. The caller checks that `weight` is whole and at
    /// most [`MAX_WEIGHT`] and that `x` is finite (a non-finite `x` or
    /// fractional weight would be a logic error: it is ignored in release
    /// builds and asserted in debug builds).
    pub fn add(&mut self, weight: u64, x: f32) {
        debug_assert!(weight <= MAX_WEIGHT && x.is_finite());
        if !x.is_finite() || weight > MAX_WEIGHT {
            return;
        }
        let (negative, m, e) = decompose_f32(x);
        // m < 2^24 and weight <= 2^32: the product fits in 57 bits.
        self.0
            .add_shifted(negative, m * weight, (e - Self::LSB) as u32);
    }

    /// Adds another sum.
    pub fn add_sum(&mut self, other: &DeltaSum) {
        self.0.add_sum(&other.0);
    }

    /// The sum as the nearest `f64`.
    pub fn value(&self) -> f64 {
        self.0.to_f64(Self::LSB)
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
