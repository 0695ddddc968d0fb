// Convolution (NHWC images, HWIO kernels, stride 1) and 2x2 max pooling.
// See backend.rs for the conventions (binding 0 the parameters; flat
// one-dimensional grids of 256 threads, folded into a second dimension).
//
// Geometry (as ConvGeometry in shape.rs): x is [n, h, w, c], the kernel
// [kh, kw, c, f], the output [n, ho, wo, f]; output pixel (oy, ox) reads
// input pixel (oy + ky - pad_top, ox + kx - pad_left), zero outside the
// image. The im2col matrix has one row per output pixel, (b, oy, ox)
// row-major, and one column per tap, (ky, kx, ch) row-major: the row order
// of the kernel viewed as [kh * kw * c, f].
//
// Unsigned arithmetic wraps, so a coordinate that would be negative becomes
// huge and fails the same `< h` test as one past the end.
//
// Entry points and their bindings (each uses exactly these; the implicit-GEMM
// kernels conv_forward, conv_dx, conv_dx_narrow, conv_dw and conv_dw_reduce
// are listed in their own section below):
//   conv_im2col:        x -> cols                 im2col of images n0.. (cols
//                                                 holds total / (kh * kw * c) rows)
//   conv_col2im:        dcols -> dx               gather: dx of images n0..
//                                                 (total elements) from their
//                                                 column-matrix gradient
//   conv_bias_at:       src, bias -> out          out[off + i] = src[i] + bias[i % f]
//   conv_slice:         src -> out                out[i] = src[off + i]
//   pool_max:           x -> out                  2x2 max, stride 2, floor
//   pool_max_backward:  x, dy -> dx               dy to each window's first max

struct Params {
    // Threads: elements written (rows of the whole GEMM for conv_forward,
    // conv_dx*, conv_dw).
    total: u32,
    // First image (im2col, col2im), element offset (bias_at, slice), first
    // output row (conv_forward, conv_dx*) or number of splits (conv_dw_reduce).
    off: u32,
    h: u32,
    w: u32,
    c: u32,
    kh: u32,
    kw: u32,
    f: u32,
    ho: u32,
    wo: u32,
    pad_top: u32,
    pad_left: u32,
    // conv_dw: image rows per split (workgroup z).
    split: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// ---- two-buffer kernels: src -> dst ----
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// dst = cols [rows, kh * kw * c] for the rows of images off.. (local rows).
@compute @workgroup_size(256)
fn conv_im2col(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.total) { return; }
    let ncol = p.kh * p.kw * p.c;
    let row = i / ncol;
    let col = i - row * ncol;
    let ch = col % p.c;
    let tap = col / p.c;
    let kx = tap % p.kw;
    let ky = tap / p.kw;
    let ox = row % p.wo;
    let t = row / p.wo;
    let oy = t % p.ho;
    let b = p.off + t / p.ho;
    let iy = oy + ky - p.pad_top;
    let ix = ox + kx - p.pad_left;
    var v = 0.0;
    if (iy < p.h && ix < p.w) {
        v = src[((b * p.h + iy) * p.w + ix) * p.c + ch];
    }
    dst[i] = v;
}

// src = dcols [rows, kh * kw * c] of images off.. (local rows); each dx element of
// those images sums its taps in ascending column-matrix row order (the CPU's
// order), so no two threads write one element.
@compute @workgroup_size(256)
fn conv_col2im(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.total) { return; }
    let ncol = p.kh * p.kw * p.c;
    let ch = i % p.c;
    let pix = i / p.c;
    let ix = pix % p.w;
    let t = pix / p.w;
    let iy = t % p.h;
    let b = t / p.h;
    var s = 0.0;
    // Rows ascend as (oy, ox) ascend, that is as (ky, kx) descend.
    for (var ky = p.kh; ky > 0u; ky--) {
        let oy = iy + p.pad_top - (ky - 1u);
        if (oy >= p.ho) { continue; }
        for (var kx = p.kw; kx > 0u; kx--) {
            let ox = ix + p.pad_left - (kx - 1u);
            if (ox >= p.wo) { continue; }
            let row = (b * p.ho + oy) * p.wo + ox;
            s += src[row * ncol + ((ky - 1u) * p.kw + kx - 1u) * p.c + ch];
        }
    }
    dst[p.off * p.h * p.w * p.c + i] = s;
}

@compute @workgroup_size(256)
fn conv_slice(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.total) { return; }
    dst[i] = src[p.off + i];
}

// 2x2 max pooling, stride 2, floor: x [n, h, w, c] -> out [n, h/2, w/2, c].
// The index of the first maximum of the window of output element (b, oy,
// ox, ch), comparing in row-major window order with `>` as the CPU does.
fn window_argmax(b: u32, oy: u32, ox: u32, ch: u32) -> u32 {
    let t0 = ((b * p.h + 2u * oy) * p.w + 2u * ox) * p.c + ch;
    let t1 = t0 + p.c;
    let t2 = t0 + p.w * p.c;
    let t3 = t2 + p.c;
    var best = t0;
    if (px[t1] > px[best]) { best = t1; }
    if (px[t2] > px[best]) { best = t2; }
    if (px[t3] > px[best]) { best = t3; }
    return best;
}

@group(0) @binding(1) var<storage, read> px: array<f32>;
@group(0) @binding(2) var<storage, read_write> pout: array<f32>;

@compute @workgroup_size(256)
fn pool_max(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.total) { return; }
    let wo = p.w / 2u;
    let ho = p.h / 2u;
    let ch = i % p.c;
    let t = i / p.c;
    let ox = t % wo;
    let t2 = t / wo;
    pout[i] = px[window_argmax(t2 / ho, t2 % ho, ox, ch)];
}

// dx [n, h, w, c]: each element takes dy of its window when it is that
// window's first maximum, else 0 (and 0 in an odd last row or column).
@group(0) @binding(2) var<storage, read> pdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> pdx: array<f32>;

@compute @workgroup_size(256)
fn pool_max_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.total) { return; }
    let wo = p.w / 2u;
    let ho = p.h / 2u;
    let ch = i % p.c;
    let t = i / p.c;
    let ix = t % p.w;
    let t2 = t / p.w;
    let iy = t2 % p.h;
    let b = t2 / p.h;
    let oy = iy / 2u;
    let ox = ix / 2u;
    var v = 0.0;
    if (oy < ho && ox < wo && window_argmax(b, oy, ox, ch) == i) {
        v = pdy[((b * ho + oy) * wo + ox) * p.c + ch];
    }
    pdx[i] = v;
}

// ---- conv_bias_at: out[off + i] = src[i] + bias[i % f] ----
@group(0) @binding(1) var<storage, read> bsrc: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> bout: array<f32>;

@compute @workgroup_size(256)
fn conv_bias_at(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.total) { return; }
    bout[p.off + i] = bsrc[i] + bias[i % p.f];
}

// ---------------------------------------------------------------------------
// Implicit GEMM: the convolution and its gradients as tiled GEMMs (the
// structure of matmul.wgsl: 64x64 output blocks per 16x16 workgroup, 4x4
// elements per thread at stride 16, k in steps of 16 through workgroup
// tiles) whose tile loaders read the images directly instead of a column
// matrix. Each thread stages the same tile rows (or columns) at every k
// step, so it decomposes them into image coordinates once; per k step it
// decomposes one tap.
//
//   conv_forward:   x, w, bias -> y     y [rows, f] = cols(x) [rows, kh*kw*c] * w [kh*kw*c, f] + bias
//                                       rows off.. of total (a dispatch covers at most 65,535 row blocks)
//   conv_dx:        dy, w -> dx         dx [n*h*w, c] = G(dy) [n*h*w, kh*kw*f] * W' [kh*kw*f, c]
//                                       with G(dy)[(b, iy, ix), (ky, kx, fo)] =
//                                       dy[b, iy + pad_top - ky, ix + pad_left - kx, fo] (0 outside)
//                                       and W'[(ky, kx, fo), ch] = w[ky, kx, ch, fo]; rows off.. of total
//   conv_dx_narrow: dy, w -> dx         conv_dx in 128 x 32 blocks (for c <= 32)
//   conv_dw:        x, dy -> part       part[z] [kh*kw*c + 1, f] = [cols(x) | 1]^T * dy over rows
//                                       z*split .. (z+1)*split of total (split-K; z = workgroup z):
//                                       the filter gradient, then the bias gradient as its last row
//   conv_dw_reduce: part -> dw, db      the sum over z < off of part[z], z ascending, split into
//                                       dw (kh*kw*c*f elements) and db (f); total = (kh*kw*c + 1) * f
// ---------------------------------------------------------------------------

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;
// Row strides of the staged tiles: one more than their width, so that 16
// threads storing one column each (consecutive kk) hit 16 different banks.
const SA: u32 = 65u;
const SB: u32 = 65u;

// ta[kk * SA + r] = A[row0 + r, k0 + kk]; tb[kk * SB + s] = B[k0 + kk, col0 + s].
var<workgroup> ta: array<f32, 1040>;
var<workgroup> tb: array<f32, 1040>;
var<private> acc: array<vec4<f32>, 4>;

fn acc_clear() {
    for (var i = 0u; i < 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
}

// acc += the staged tiles' product for this thread's 4x4 outputs.
fn tile_mma(lid: vec3<u32>) {
    for (var kk = 0u; kk < TK; kk++) {
        let ab = kk * SA + lid.y;
        let bb = kk * SB + lid.x;
        let bv = vec4<f32>(tb[bb], tb[bb + 16u], tb[bb + 32u], tb[bb + 48u]);
        acc[0] = fma(vec4<f32>(ta[ab]), bv, acc[0]);
        acc[1] = fma(vec4<f32>(ta[ab + 16u]), bv, acc[1]);
        acc[2] = fma(vec4<f32>(ta[ab + 32u]), bv, acc[2]);
        acc[3] = fma(vec4<f32>(ta[ab + 48u]), bv, acc[3]);
    }
}

@group(0) @binding(1) var<storage, read> fx: array<f32>;
@group(0) @binding(2) var<storage, read> fw: array<f32>;
@group(0) @binding(3) var<storage, read> fbias: array<f32>;
@group(0) @binding(4) var<storage, read_write> fy: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn conv_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let kdim = p.kh * p.kw * p.c;
    let row0 = p.off + wg.y * TM;
    let col0 = wg.x * TN;
    acc_clear();
    // This thread stages rows li / 16 + 16 e of the A tile, column li % 16.
    let ka = li % TK;
    var base: array<u32, 4>; // ((b * h + oy - pad_top) * w + ox - pad_left) * c, wrapping
    var y0: array<u32, 4>;   // oy - pad_top (h: a row past the end)
    var x0: array<u32, 4>;   // ox - pad_left
    for (var e = 0u; e < 4u; e++) {
        let r = row0 + li / TK + 16u * e;
        let ox = r % p.wo;
        let t = r / p.wo;
        let oy = t % p.ho;
        let b = t / p.ho;
        y0[e] = select(p.h, oy - p.pad_top, r < p.total);
        x0[e] = ox - p.pad_left;
        base[e] = ((b * p.h + oy - p.pad_top) * p.w + x0[e]) * p.c;
    }
    let tiles = (kdim + TK - 1u) / TK;
    for (var t = 0u; t < tiles; t++) {
        let k0 = t * TK;
        let gk = k0 + ka;
        let ch = gk % p.c;
        let tap = gk / p.c;
        let kx = tap % p.kw;
        let ky = tap / p.kw;
        let koff = (ky * p.w + kx) * p.c + ch;
        for (var e = 0u; e < 4u; e++) {
            var v = 0.0;
            if (gk < kdim && y0[e] + ky < p.h && x0[e] + kx < p.w) {
                v = fx[base[e] + koff];
            }
            ta[ka * SA + li / TK + 16u * e] = v;
        }
        for (var e = 0u; e < 4u; e++) {
            let idx = li + e * 256u;
            let s = idx % TN;
            let kb = idx / TN;
            let gj = col0 + s;
            let gkb = k0 + kb;
            var v = 0.0;
            if (gj < p.f && gkb < kdim) {
                v = fw[gkb * p.f + gj];
            }
            tb[kb * SB + s] = v;
        }
        workgroupBarrier();
        tile_mma(lid);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let gi = row0 + lid.y + 16u * i;
        if (gi < p.total) {
            for (var j = 0u; j < 4u; j++) {
                let gj = col0 + lid.x + 16u * j;
                if (gj < p.f) {
                    fy[gi * p.f + gj] = acc[i][j] + fbias[gj];
                }
            }
        }
    }
}

@group(0) @binding(1) var<storage, read> ddy: array<f32>;
@group(0) @binding(2) var<storage, read> dw_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> ddx: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn conv_dx(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let kdim = p.kh * p.kw * p.f;
    let row0 = p.off + wg.y * TM;
    let col0 = wg.x * TN;
    acc_clear();
    let ka = li % TK;
    var base: array<u32, 4>; // b * ho
    var y0: array<u32, 4>;   // iy + pad_top (past every tap: a row past the end)
    var x0: array<u32, 4>;   // ix + pad_left
    for (var e = 0u; e < 4u; e++) {
        let r = row0 + li / TK + 16u * e;
        let ix = r % p.w;
        let t = r / p.w;
        let iy = t % p.h;
        base[e] = (t / p.h) * p.ho;
        y0[e] = select(p.ho + p.kh, iy + p.pad_top, r < p.total);
        x0[e] = ix + p.pad_left;
    }
    let tiles = (kdim + TK - 1u) / TK;
    for (var t = 0u; t < tiles; t++) {
        let k0 = t * TK;
        // A: this thread's rows at k = k0 + li % 16, k = (ky, kx, fo).
        let gk = k0 + ka;
        let fo = gk % p.f;
        let tap = gk / p.f;
        let kx = tap % p.kw;
        let ky = tap / p.kw;
        for (var e = 0u; e < 4u; e++) {
            let oy = y0[e] - ky;
            let ox = x0[e] - kx;
            var v = 0.0;
            if (gk < kdim && oy < p.ho && ox < p.wo) {
                v = ddy[((base[e] + oy) * p.wo + ox) * p.f + fo];
            }
            ta[ka * SA + li / TK + 16u * e] = v;
        }
        // B: columns (li / 16 + 16 e) at k = k0 + li % 16: consecutive
        // threads read consecutive fo.
        let kb = li % TK;
        let gkb = k0 + kb;
        let fob = gkb % p.f;
        let tapb = gkb / p.f;
        for (var e = 0u; e < 4u; e++) {
            let s = li / TK + 16u * e;
            let gj = col0 + s;
            var v = 0.0;
            if (gj < p.c && gkb < kdim) {
                v = dw_w[(tapb * p.c + gj) * p.f + fob];
            }
            tb[kb * SB + s] = v;
        }
        workgroupBarrier();
        tile_mma(lid);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let gi = row0 + lid.y + 16u * i;
        if (gi < p.total) {
            for (var j = 0u; j < 4u; j++) {
                let gj = col0 + lid.x + 16u * j;
                if (gj < p.c) {
                    ddx[gi * p.c + gj] = acc[i][j];
                }
            }
        }
    }
}

// conv_dx_narrow: conv_dx for c <= 32 (the host's choice) in 128 x 32
// output blocks, 8 x 32 threads with 4 x 4 outputs each at strides 32
// (rows) and 8 (columns), so no thread computes columns past c = 32.
const NM: u32 = 128u;
const NN: u32 = 32u;
const NSA: u32 = 129u;
const NSB: u32 = 33u;

var<workgroup> na: array<f32, 2064>; // 16 * NSA
var<workgroup> nb: array<f32, 528>;  // 16 * NSB

fn tile_mma_narrow(lid: vec3<u32>) {
    for (var kk = 0u; kk < TK; kk++) {
        let ab = kk * NSA + lid.y;
        let bb = kk * NSB + lid.x;
        let bv = vec4<f32>(nb[bb], nb[bb + 8u], nb[bb + 16u], nb[bb + 24u]);
        acc[0] = fma(vec4<f32>(na[ab]), bv, acc[0]);
        acc[1] = fma(vec4<f32>(na[ab + 32u]), bv, acc[1]);
        acc[2] = fma(vec4<f32>(na[ab + 64u]), bv, acc[2]);
        acc[3] = fma(vec4<f32>(na[ab + 96u]), bv, acc[3]);
    }
}

@compute @workgroup_size(8, 32, 1)
fn conv_dx_narrow(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let kdim = p.kh * p.kw * p.f;
    let row0 = p.off + wg.y * NM;
    let col0 = wg.x * NN;
    acc_clear();
    // This thread stages rows li / 16 + 16 e (e < 8) of the A tile.
    let ka = li % TK;
    var base: array<u32, 8>;
    var y0: array<u32, 8>;
    var x0: array<u32, 8>;
    for (var e = 0u; e < 8u; e++) {
        let r = row0 + li / TK + 16u * e;
        let ix = r % p.w;
        let t = r / p.w;
        let iy = t % p.h;
        base[e] = (t / p.h) * p.ho;
        y0[e] = select(p.ho + p.kh, iy + p.pad_top, r < p.total);
        x0[e] = ix + p.pad_left;
    }
    let tiles = (kdim + TK - 1u) / TK;
    for (var t = 0u; t < tiles; t++) {
        let k0 = t * TK;
        let gk = k0 + ka;
        let fo = gk % p.f;
        let tap = gk / p.f;
        let kx = tap % p.kw;
        let ky = tap / p.kw;
        for (var e = 0u; e < 8u; e++) {
            let oy = y0[e] - ky;
            let ox = x0[e] - kx;
            var v = 0.0;
            if (gk < kdim && oy < p.ho && ox < p.wo) {
                v = ddy[((base[e] + oy) * p.wo + ox) * p.f + fo];
            }
            na[ka * NSA + li / TK + 16u * e] = v;
        }
        // B: columns li / 16 + 16 e (e < 2) at k = k0 + li % 16.
        let gkb = k0 + ka;
        for (var e = 0u; e < 2u; e++) {
            let s = li / TK + 16u * e;
            let gj = col0 + s;
            var v = 0.0;
            if (gj < p.c && gkb < kdim) {
                v = dw_w[(tap * p.c + gj) * p.f + fo];
            }
            nb[ka * NSB + s] = v;
        }
        workgroupBarrier();
        tile_mma_narrow(lid);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let gi = row0 + lid.y + 32u * i;
        if (gi < p.total) {
            for (var j = 0u; j < 4u; j++) {
                let gj = col0 + lid.x + 8u * j;
                if (gj < p.c) {
                    ddx[gi * p.c + gj] = acc[i][j];
                }
            }
        }
    }
}

@group(0) @binding(1) var<storage, read> gx: array<f32>;
@group(0) @binding(2) var<storage, read> gdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gpart: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn conv_dw(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let mdim = p.kh * p.kw * p.c;
    let row0 = wg.y * TM;
    let col0 = wg.x * TN;
    let r_begin = wg.z * p.split;
    let r_end = min(r_begin + p.split, p.total);
    acc_clear();
    // A = cols^T with a last row of ones (its product with dy is the bias
    // gradient): this thread stages rows row0 + li / 16 + 16 e at image
    // row k0 + li % 16, one of them (one_e) perhaps the ones.
    let kk = li % TK;
    let lr = row0 + li / TK;
    var one_e = 4u;
    if (mdim >= lr && (mdim - lr) % 16u == 0u && (mdim - lr) / 16u < 4u) {
        one_e = (mdim - lr) / 16u;
    }
    var koff: array<u32, 4>; // (ky * w + kx) * c + ch
    var kyv: array<u32, 4>;  // ky, or 2^31 for a tap past the end: iy0 + 2^31 is past h
    var kxv: array<u32, 4>;
    for (var e = 0u; e < 4u; e++) {
        let gp = row0 + li / TK + 16u * e;
        let ch = gp % p.c;
        let tap = gp / p.c;
        kxv[e] = tap % p.kw;
        kyv[e] = select(0x80000000u, tap / p.kw, gp < mdim);
        koff[e] = ((tap / p.kw) * p.w + kxv[e]) * p.c + ch;
    }
    let tiles = (r_end - r_begin + TK - 1u) / TK;
    for (var t = 0u; t < tiles; t++) {
        let k0 = r_begin + t * TK;
        let r = k0 + kk;
        let ox = r % p.wo;
        let q = r / p.wo;
        let oy = q % p.ho;
        let b = q / p.ho;
        let iy0 = oy - p.pad_top;
        let ix0 = ox - p.pad_left;
        let base = ((b * p.h + iy0) * p.w + ix0) * p.c;
        for (var e = 0u; e < 4u; e++) {
            var v = 0.0;
            if (r < r_end) {
                if (e == one_e) {
                    v = 1.0;
                } else if (iy0 + kyv[e] < p.h && ix0 + kxv[e] < p.w) {
                    v = gx[base + koff[e]];
                }
            }
            ta[kk * SA + li / TK + 16u * e] = v;
        }
        for (var e = 0u; e < 4u; e++) {
            let idx = li + e * 256u;
            let s = idx % TN;
            let kb = idx / TN;
            let gj = col0 + s;
            let gr = k0 + kb;
            var v = 0.0;
            if (gj < p.f && gr < r_end) {
                v = gdy[gr * p.f + gj];
            }
            tb[kb * SB + s] = v;
        }
        workgroupBarrier();
        tile_mma(lid);
        workgroupBarrier();
    }
    let out0 = wg.z * (mdim + 1u) * p.f;
    for (var i = 0u; i < 4u; i++) {
        let gi = row0 + lid.y + 16u * i;
        if (gi <= mdim) {
            for (var j = 0u; j < 4u; j++) {
                let gj = col0 + lid.x + 16u * j;
                if (gj < p.f) {
                    gpart[out0 + gi * p.f + gj] = acc[i][j];
                }
            }
        }
    }
}

@group(0) @binding(1) var<storage, read> rpart: array<f32>;
@group(0) @binding(2) var<storage, read_write> rdw: array<f32>;
@group(0) @binding(3) var<storage, read_write> rdb: array<f32>;

@compute @workgroup_size(256)
fn conv_dw_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.total) { return; }
    var s = 0.0;
    for (var z = 0u; z < p.off; z++) {
        s += rpart[z * p.total + i];
    }
    let dw_len = p.kh * p.kw * p.c * p.f;
    if (i < dw_len) {
        rdw[i] = s;
    } else {
        rdb[i - dw_len] = s;
    }
}
