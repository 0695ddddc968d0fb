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
// Entry points and their bindings (each uses exactly these):
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
    // Threads: elements written.
    total: u32,
    // First image (im2col, col2im) or element offset (bias_at, slice).
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
