//! A blocked f32 GEMM for WebAssembly SIMD (`simd128`), used by the wasm32
//! build instead of matrixmultiply's wasm kernel.
//!
//! # Data layout
//! `c[m, n] = beta * c + op(a)[m, k] * op(b)[k, n]`, every matrix given as a
//! pointer plus a row stride and a column stride (in elements), so transposes
//! cost nothing. The product is computed in blocks (BLIS order):
//! - a `KC x NC` panel of `b` is packed into strips of [`NR`] columns, each
//!   strip `KC` rows of `NR` contiguous values (zero-padded at the edge);
//! - an `MC x KC` block of `a` is packed into strips of [`MR`] rows, each strip
//!   `KC` columns of `MR` contiguous values (zero-padded at the edge);
//! - a micro-kernel multiplies one `a` strip by one `b` strip into an
//!   `MR x NR` tile held in 8 SIMD registers, then adds it to `c`.
//!
//! Why not matrixmultiply here: its wasm kernel keeps an 8x8 tile (16
//! accumulators, plus operands) where V8 has 16 vector registers on x86-64,
//! so it spills, and it broadcasts `a` with shuffles. This kernel's 4x8 tile
//! needs at most 14 registers and broadcasts with `load32_splat`. (A 6x8 tile
//! was slower: LLVM hoists all six broadcasts, which then spill under V8.)
//! BENCHMARKS.md has the before/after `cnn_dropout` figures. Natively the vector type is
//! a plain `[f32; 4]`, so the same blocking and packing are unit-tested on
//! the host too; the native backend itself keeps matrixmultiply's AVX kernels.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::cell::RefCell;

use lanes::F4;

/// Rows of the micro-tile.
pub const MR: usize = 4;
/// Columns of the micro-tile (two 4-lane vectors).
pub const NR: usize = 8;
/// Depth of a packed block: one `b` strip (`KC * NR` floats) stays in L1.
const KC: usize = 256;
/// Rows of a packed `a` block (a multiple of `MR`): the block stays in L2.
const MC: usize = 64;
/// Columns of a packed `b` panel (a multiple of `NR`).
const NC: usize = 1024;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    /// Four f32 lanes in one `v128`.
    #[derive(Clone, Copy)]
    pub struct F4(v128);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4(f32x4_splat(0.0))
        }
        /// # Safety
        /// `p..p+4` must be readable (no alignment needed).
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> F4 {
            F4(v128_load(p as *const v128))
        }
        /// # Safety
        /// `p` must be readable.
        #[inline(always)]
        pub unsafe fn splat_load(p: *const f32) -> F4 {
            F4(v128_load32_splat(p as *const u32))
        }
        /// # Safety
        /// `p..p+4` must be writable.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            v128_store(p as *mut v128, self.0)
        }
        /// `self + a * b`.
        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> F4 {
            F4(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
        }
        #[inline(always)]
        pub fn add(self, o: F4) -> F4 {
            F4(f32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub fn scale(self, s: f32) -> F4 {
            F4(f32x4_mul(self.0, f32x4_splat(s)))
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    /// Four f32 lanes (the portable stand-in for a `v128`).
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4([0.0; 4])
        }
        /// # Safety
        /// `p..p+4` must be readable.
        #[inline(always)]
        pub unsafe fn load(p: *const f32) -> F4 {
            F4(std::ptr::read_unaligned(p as *const [f32; 4]))
        }
        /// # Safety
        /// `p` must be readable.
        #[inline(always)]
        pub unsafe fn splat_load(p: *const f32) -> F4 {
            F4([*p; 4])
        }
        /// # Safety
        /// `p..p+4` must be writable.
        #[inline(always)]
        pub unsafe fn store(self, p: *mut f32) {
            std::ptr::write_unaligned(p as *mut [f32; 4], self.0)
        }
        /// `self + a * b`.
        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
        }
        #[inline(always)]
        pub fn add(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + o.0[i]))
        }
        #[inline(always)]
        pub fn scale(self, s: f32) -> F4 {
            F4(self.0.map(|v| v * s))
        }
    }
}

/// A strided read-only matrix.
#[derive(Clone, Copy)]
struct MatRef {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

thread_local! {
    /// Packing buffers (`a` block, `b` panel), kept between calls.
    static PACK: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `c = beta * c + op(a) * op(b)` with strides; `c` is not read when `beta == 0`.
///
/// # Safety
/// The pointers and strides must describe valid `m x k` (`a`), `k x n` (`b`)
/// and `m x n` (`c`) matrices, and `c` must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let c = Tile {
        ptr: c,
        rs: rsc,
        cs: csc,
    };
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let p = c.at(i, j);
                *p = if beta == 0.0 { 0.0 } else { beta * *p };
            }
        }
        return;
    }
    let a = MatRef {
        ptr: a,
        rs: rsa,
        cs: csa,
    };
    let b = MatRef {
        ptr: b,
        rs: rsb,
        cs: csb,
    };
    PACK.with(|pack| {
        let mut pack = pack.borrow_mut();
        let (pa, pb) = &mut *pack;
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                pack_b(b, pc, kc, jc, nc, pb);
                // The first depth block applies beta; later ones accumulate.
                let first = if pc == 0 { Some(beta) } else { None };
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    pack_a(a, ic, mc, pc, kc, pa);
                    for jr in (0..nc).step_by(NR) {
                        let nr = NR.min(nc - jr);
                        let bs = pb.as_ptr().add(jr * kc);
                        for ir in (0..mc).step_by(MR) {
                            let mr = MR.min(mc - ir);
                            let acc = micro_kernel(kc, pa.as_ptr().add(ir * kc), bs);
                            let tile = c.offset(ic + ir, jc + jr);
                            write_tile(&acc, tile, mr, nr, first);
                        }
                    }
                }
            }
        }
    });
}

/// Packs rows `pc..pc+kc`, columns `jc..jc+nc` of `b` into `NR`-column strips.
///
/// # Safety
/// The block must lie inside `b`.
unsafe fn pack_b(b: MatRef, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut Vec<f32>) {
    let dst = reserve(out, nc.div_ceil(NR) * NR * kc);
    for (s, jr) in (0..nc).step_by(NR).enumerate() {
        let strip = dst.add(s * NR * kc);
        pack_strip::<NR>(b, pc, jc + jr, NR.min(nc - jr), kc, strip, true);
    }
}

/// Packs rows `ic..ic+mc`, columns `pc..pc+kc` of `a` into `MR`-row strips.
///
/// # Safety
/// The block must lie inside `a`.
unsafe fn pack_a(a: MatRef, ic: usize, mc: usize, pc: usize, kc: usize, out: &mut Vec<f32>) {
    let dst = reserve(out, mc.div_ceil(MR) * MR * kc);
    for (s, ir) in (0..mc).step_by(MR).enumerate() {
        let strip = dst.add(s * MR * kc);
        pack_strip::<MR>(a, ic + ir, pc, MR.min(mc - ir), kc, strip, false);
    }
}

/// Makes `buf` at least `len` long (growing only; the contents are about to
/// be overwritten) and returns its start.
fn reserve(buf: &mut Vec<f32>, len: usize) -> *mut f32 {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    buf.as_mut_ptr()
}

/// Writes one packed strip: `kc` groups of `W` values, group `p` holding the
/// `w` (<= `W`) values of `m` along the strip at depth `p`, zero-padded to
/// `W`. For `b` (`along_cols`) the strip runs along columns `col0..` at rows
/// `pc + p`; for `a` it runs along rows `row0..` at columns `pc + p`.
///
/// # Safety
/// The strip must lie inside `m`; `dst` must hold `kc * W` floats.
#[inline(always)]
unsafe fn pack_strip<const W: usize>(
    m: MatRef,
    first: usize,
    second: usize,
    w: usize,
    kc: usize,
    dst: *mut f32,
    along_cols: bool,
) {
    // Element (p, t): depth p, position t along the strip.
    let (base, step_p, step_t) = if along_cols {
        // b: rows pc + p (first = pc), columns second + t.
        (
            m.ptr.offset(first as isize * m.rs + second as isize * m.cs),
            m.rs,
            m.cs,
        )
    } else {
        // a: rows first + t, columns pc + p (second = pc).
        (
            m.ptr.offset(first as isize * m.rs + second as isize * m.cs),
            m.cs,
            m.rs,
        )
    };
    if w == W && step_t == 1 {
        for p in 0..kc {
            std::ptr::copy_nonoverlapping(base.offset(p as isize * step_p), dst.add(p * W), W);
        }
    } else if w == W && step_p == 1 {
        for t in 0..W {
            let src = base.offset(t as isize * step_t);
            for p in 0..kc {
                *dst.add(p * W + t) = *src.add(p);
            }
        }
    } else {
        // Any other layout, and edge strips (zero-padded).
        for p in 0..kc {
            let src = base.offset(p as isize * step_p);
            for t in 0..W {
                *dst.add(p * W + t) = if t < w {
                    *src.offset(t as isize * step_t)
                } else {
                    0.0
                };
            }
        }
    }
}

/// The `MR x NR` product of one packed `a` strip and one packed `b` strip,
/// row `i` as two vectors `[i][0]` (columns 0-3) and `[i][1]` (columns 4-7).
///
/// # Safety
/// `a` must hold `kc * MR` floats and `b` `kc * NR`.
#[inline(always)]
unsafe fn micro_kernel(kc: usize, mut a: *const f32, mut b: *const f32) -> [[F4; 2]; MR] {
    let mut acc = [[F4::zero(); 2]; MR];
    for _ in 0..kc {
        let b0 = F4::load(b);
        let b1 = F4::load(b.add(4));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = F4::splat_load(a.add(i));
            row[0] = row[0].mul_add(ai, b0);
            row[1] = row[1].mul_add(ai, b1);
        }
        a = a.add(MR);
        b = b.add(NR);
    }
    acc
}

/// A strided mutable view of `c`.
#[derive(Clone, Copy)]
struct Tile {
    ptr: *mut f32,
    rs: isize,
    cs: isize,
}

impl Tile {
    /// # Safety
    /// `(i, j)` must lie inside the matrix.
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> *mut f32 {
        self.ptr.offset(i as isize * self.rs + j as isize * self.cs)
    }
    /// # Safety
    /// `(i, j)` must lie inside the matrix.
    #[inline(always)]
    unsafe fn offset(self, i: usize, j: usize) -> Tile {
        Tile {
            ptr: self.at(i, j),
            ..self
        }
    }
}

/// Adds the top-left `mr x nr` of `acc` to `c`, after scaling `c` by `beta`
/// when `first` is `Some(beta)` (and not reading `c` at all when beta is 0).
///
/// # Safety
/// The `mr x nr` tile must lie inside `c`.
#[inline(always)]
unsafe fn write_tile(acc: &[[F4; 2]; MR], c: Tile, mr: usize, nr: usize, first: Option<f32>) {
    if mr == MR && nr == NR && c.cs == 1 {
        for (i, row) in acc.iter().enumerate() {
            let p = c.at(i, 0);
            let (lo, hi) = match first {
                Some(0.0) => (row[0], row[1]),
                Some(beta) => (
                    F4::load(p).scale(beta).add(row[0]),
                    F4::load(p.add(4)).scale(beta).add(row[1]),
                ),
                None => (F4::load(p).add(row[0]), F4::load(p.add(4)).add(row[1])),
            };
            lo.store(p);
            hi.store(p.add(4));
        }
        return;
    }
    let mut buf = [[0.0f32; NR]; MR];
    for (row, out) in acc.iter().zip(&mut buf) {
        row[0].store(out.as_mut_ptr());
        row[1].store(out.as_mut_ptr().add(4));
    }
    for (i, row) in buf.iter().enumerate().take(mr) {
        for (j, &v) in row.iter().enumerate().take(nr) {
            let p = c.at(i, j);
            *p = match first {
                Some(0.0) => v,
                Some(beta) => beta * *p + v,
                None => *p + v,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f32], ta: bool, b: &[f32], tb: bool) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    c[i * n + j] += av as f64 * bv as f64;
                }
            }
        }
        c
    }

    fn check(m: usize, k: usize, n: usize, ta: bool, tb: bool, beta: f32) {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let c0: Vec<f32> = (0..m * n).map(|i| (i % 3) as f32).collect();
        let mut c = c0.clone();
        let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
        let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
        // SAFETY: the strides describe the vectors above.
        unsafe {
            sgemm(
                m,
                k,
                n,
                a.as_ptr(),
                rsa,
                csa,
                b.as_ptr(),
                rsb,
                csb,
                beta,
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
        let want = naive(m, k, n, &a, ta, &b, tb);
        for i in 0..m * n {
            let w = want[i] + beta as f64 * c0[i] as f64;
            let tol = 1e-5 * (1.0 + (k as f64).sqrt() * w.abs().max(1.0));
            assert!(
                (c[i] as f64 - w).abs() <= tol,
                "m={m} k={k} n={n} ta={ta} tb={tb} beta={beta} at {i}: {} vs {w}",
                c[i]
            );
        }
    }

    #[test]
    fn small_shapes_every_transpose_and_beta() {
        for m in 1..=13 {
            for k in 0..=13 {
                for n in 1..=13 {
                    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                        check(m, k, n, ta, tb, 0.0);
                    }
                    check(m, k, n, false, false, 1.0);
                    check(m, k, n, false, false, 0.5);
                }
            }
        }
    }

    #[test]
    fn shapes_crossing_every_block_edge() {
        for &(m, k, n) in &[
            (75, 263, 17),
            (6, 513, 8),
            (145, 9, 1030),
            (1, 300, 1),
            (73, 257, 9),
        ] {
            for (ta, tb) in [(false, false), (true, true)] {
                check(m, k, n, ta, tb, 0.0);
            }
            check(m, k, n, false, true, 1.0);
        }
    }

    #[test]
    fn strided_output_column_major() {
        let (m, k, n) = (7, 5, 9);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| 1.0 - i as f32 * 0.05).collect();
        let mut c = vec![f32::NAN; m * n];
        // SAFETY: c is m x n column-major (rsc 1, csc m).
        unsafe {
            sgemm(
                m,
                k,
                n,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                1,
                m as isize,
            );
        }
        let want = naive(m, k, n, &a, false, &b, false);
        for i in 0..m {
            for j in 0..n {
                assert!((c[j * m + i] as f64 - want[i * n + j]).abs() < 1e-4);
            }
        }
    }
}
