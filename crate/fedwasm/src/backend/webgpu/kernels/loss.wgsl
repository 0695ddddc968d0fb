// Softmax, losses and metric reductions (see ops/loss.rs; backend.rs for the
// conventions: binding 0 the parameters, f32 parameters as bits).
//
// Row kernels (softmax, softmax_backward, softmax_cross_entropy,
// count_correct) give each row `lanes` threads, a power of two dividing 256
// chosen on the host from the row length: a workgroup of 256 threads holds
// 256 / lanes rows, lane l of a row takes columns l, l + lanes, .., and the
// lanes combine their partial results by a tree in workgroup memory (pairs
// (i, i + s) for s = lanes / 2, .., 1): a fixed order, so deterministic.
// Workgroup g = wid.x + wid.y * nwg.x (grids wider than the per-dimension
// limit fold into y, as dispatch_1d does).
//
// Batch totals take two passes, without atomics: per-row (or per-workgroup)
// partial results, then one workgroup of 256 threads that strides over them
// and adds by a tree (loss_final_sum, loss_final_count).
//
// Bindings of each entry point (all also use p):
//   softmax:               x -> y                          p: n rows, cols, lanes
//   softmax_backward:      y, dy -> dx                     p: n rows, cols, lanes
//   softmax_cross_entropy: logits, labels -> grad, row_loss
//                                                          p: n rows, cols, lanes, f0 = 1/n
//   count_correct:         scores, labels -> row_hit (u32) p: n rows, cols, lanes
//   sparse_cross_entropy:  probs, labels -> grad, row_loss p: n = rows * cols, cols,
//                                                             f0 = 1/n, f1 = clip lo, f2 = clip hi
//   loss_mse_partial:      pred, target -> grad, group_sum p: n elements, f0 = 1/n
//   loss_sq_err_partial:   pred, target -> group_sum       p: n elements
//   loss_within_partial:   pred, target -> group_count (u32)
//                                                          p: n elements, f0 = tolerance
//   loss_add_count_finite: x -> count [1] (in place)      p: n elements
//   loss_final_sum:        partial -> out [1]              p: n partials, f0 = scale
//   loss_final_count:      partial (u32) -> out [1]        p: n partials
// Labels are class ids stored as f32, checked on the host (whole numbers in
// 0..cols), so u32(label) is exact.

struct Params {
    // Rows of row kernels, elements of flat kernels, partials of the final passes.
    n: u32,
    // Row length (classes).
    cols: u32,
    // Threads per row of row kernels (a power of two dividing 256).
    lanes: u32,
    // f32 parameters as bits.
    f0: u32,
    f1: u32,
    f2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read> in1: array<f32>;
@group(0) @binding(1) var<storage, read> in1u: array<u32>;
@group(0) @binding(2) var<storage, read> in2: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out3: array<f32>;
@group(0) @binding(3) var<storage, read_write> out3u: array<u32>;
@group(0) @binding(4) var<storage, read_write> out4: array<f32>;

var<workgroup> red: array<f32, 256>;
var<workgroup> redu: array<u32, 256>;

const NONE: u32 = 0xffffffffu;

fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// ---- reductions in workgroup memory (call from uniform control flow) ----

// The sum of `v` over the lanes of this thread's row, returned to each lane.
fn row_sum(lid: u32, v: f32) -> f32 {
    let lane = lid & (p.lanes - 1u);
    red[lid] = v;
    workgroupBarrier();
    for (var s = p.lanes >> 1u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lid] = red[lid] + red[lid + s];
        }
        workgroupBarrier();
    }
    let r = red[lid - lane];
    workgroupBarrier();
    return r;
}

// The maximum of `v` over the lanes of this thread's row.
fn row_max(lid: u32, v: f32) -> f32 {
    let lane = lid & (p.lanes - 1u);
    red[lid] = v;
    workgroupBarrier();
    for (var s = p.lanes >> 1u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lid] = max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red[lid - lane];
    workgroupBarrier();
    return r;
}

// The sum of `v` over the whole workgroup, valid in thread 0.
fn block_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = red[lid] + red[lid + s];
        }
        workgroupBarrier();
    }
    return red[0];
}

// The sum of `v` over the whole workgroup, valid in thread 0.
fn block_sum_u(lid: u32, v: u32) -> u32 {
    redu[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            redu[lid] = redu[lid] + redu[lid + s];
        }
        workgroupBarrier();
    }
    return redu[0];
}

// ---- row kernels ----

// The max of the row of in1 at `base` and the sum of exp(x - max) over it,
// shared by the row's lanes (every lane of the workgroup must call it: it
// has barriers). Every lane starts from the row's first element (max is
// idempotent), so lanes past the row's end need no -inf.
fn max_and_exp_sum(lid: u32, lane: u32, live: bool, base: u32) -> vec2<f32> {
    var m = 0.0;
    if (live) {
        m = in1[base];
        for (var j = lane; j < p.cols; j += p.lanes) {
            m = max(m, in1[base + j]);
        }
    }
    m = row_max(lid, m);
    var s = 0.0;
    if (live) {
        for (var j = lane; j < p.cols; j += p.lanes) {
            s += exp(in1[base + j] - m);
        }
    }
    s = row_sum(lid, s);
    return vec2<f32>(m, s);
}

// in1 = x, out2 = softmax(x) along rows.
@compute @workgroup_size(256)
fn softmax(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lane = lid & (p.lanes - 1u);
    let row = group_index(wid, nwg) * (256u / p.lanes) + lid / p.lanes;
    let live = row < p.n;
    let base = row * p.cols;
    let ms = max_and_exp_sum(lid, lane, live, base);
    let m = ms.x;
    let s = ms.y;
    if (live) {
        for (var j = lane; j < p.cols; j += p.lanes) {
            out2[base + j] = exp(in1[base + j] - m) / s;
        }
    }
}

// in1 = y (the softmax output), in2 = dy, out3 = dx = y * (dy - sum(dy * y)).
@compute @workgroup_size(256)
fn softmax_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lane = lid & (p.lanes - 1u);
    let row = group_index(wid, nwg) * (256u / p.lanes) + lid / p.lanes;
    let live = row < p.n;
    let base = row * p.cols;
    var s = 0.0;
    if (live) {
        for (var j = lane; j < p.cols; j += p.lanes) {
            s += in2[base + j] * in1[base + j];
        }
    }
    s = row_sum(lid, s);
    if (live) {
        for (var j = lane; j < p.cols; j += p.lanes) {
            let y = in1[base + j];
            out3[base + j] = y * (in2[base + j] - s);
        }
    }
}

// in1 = logits, in2 = labels; out3 = grad = (softmax - onehot) / n,
// out4 = row_loss = logsumexp - logit[label].
@compute @workgroup_size(256)
fn softmax_cross_entropy(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lane = lid & (p.lanes - 1u);
    let row = group_index(wid, nwg) * (256u / p.lanes) + lid / p.lanes;
    let live = row < p.n;
    let base = row * p.cols;
    let ms = max_and_exp_sum(lid, lane, live, base);
    let m = ms.x;
    let s = ms.y;
    if (live) {
        let inv_n = bitcast<f32>(p.f0);
        let y = u32(in2[row]);
        for (var j = lane; j < p.cols; j += p.lanes) {
            let g = exp(in1[base + j] - m) / s * inv_n;
            out3[base + j] = select(g, g - inv_n, j == y);
        }
        if (lane == 0u) {
            out4[row] = m + log(s) - in1[base + y];
        }
    }
}

// in1 = scores, in2 = labels; out3u[row] = 1 when the row's first arg-max is
// its label, else 0. As on the CPU, NaNs never win, except that a NaN in
// column 0 keeps column 0 (the CPU scan starts from it).
@compute @workgroup_size(256)
fn count_correct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lane = lid & (p.lanes - 1u);
    let row = group_index(wid, nwg) * (256u / p.lanes) + lid / p.lanes;
    let live = row < p.n;
    let base = row * p.cols;
    // This lane's first maximum among its non-NaN columns (NONE: none yet).
    var bv = 0.0;
    var bi = NONE;
    if (live) {
        for (var j = lane; j < p.cols; j += p.lanes) {
            let v = in1[base + j];
            if (v > bv || (bi == NONE && v == v)) {
                bv = v;
                bi = j;
            }
        }
    }
    red[lid] = bv;
    redu[lid] = bi;
    workgroupBarrier();
    for (var s = p.lanes >> 1u; s > 0u; s >>= 1u) {
        if (lane < s) {
            let ov = red[lid + s];
            let oi = redu[lid + s];
            let cv = red[lid];
            let ci = redu[lid];
            if (oi != NONE && (ci == NONE || ov > cv || (ov == cv && oi < ci))) {
                red[lid] = ov;
                redu[lid] = oi;
            }
        }
        workgroupBarrier();
    }
    if (live && lane == 0u) {
        let first = in1[base];
        let best = select(redu[lid], 0u, first != first);
        out3u[row] = select(0u, 1u, best == u32(in2[row]));
    }
}

// ---- flat kernels (one element per thread) ----

// in1 = probs, in2 = labels; out3 = grad, nonzero only at each row's label
// (-1 / (n p) where p is inside the clip), out4 = row_loss = -log(clip(p)).
@compute @workgroup_size(256)
fn sparse_cross_entropy(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= p.n) {
        return;
    }
    let row = i / p.cols;
    let y = u32(in2[row]);
    var g = 0.0;
    if (i - row * p.cols == y) {
        let pr = in1[i];
        let lo = bitcast<f32>(p.f1);
        let hi = bitcast<f32>(p.f2);
        out4[row] = -log(min(max(pr, lo), hi));
        // The clip has zero derivative outside [lo, hi].
        if (pr > lo && pr < hi) {
            g = -bitcast<f32>(p.f0) / pr;
        }
    }
    out3[i] = g;
}

// in1 = pred, in2 = target; out3 = grad = 2 (pred - target) / n, out4[group]
// = the group's sum of squared errors.
@compute @workgroup_size(256)
fn loss_mse_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = group_index(wid, nwg);
    let i = g * 256u + lid;
    var v = 0.0;
    if (i < p.n) {
        let d = in1[i] - in2[i];
        out3[i] = 2.0 * d * bitcast<f32>(p.f0);
        v = d * d;
    }
    let s = block_sum(lid, v);
    // Groups past ceil(n / 256) exist when the grid folds into y: they own
    // no partial.
    if (lid == 0u && g * 256u < p.n) {
        out4[g] = s;
    }
}

// in1 = pred, in2 = target; out3[group] = the group's sum of squared errors.
@compute @workgroup_size(256)
fn loss_sq_err_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = group_index(wid, nwg);
    let i = g * 256u + lid;
    var v = 0.0;
    if (i < p.n) {
        let d = in1[i] - in2[i];
        v = d * d;
    }
    let s = block_sum(lid, v);
    // Groups past ceil(n / 256) exist when the grid folds into y: they own
    // no partial.
    if (lid == 0u && g * 256u < p.n) {
        out3[g] = s;
    }
}

// in1 = pred, in2 = target; out3u[group] = how many of the group's elements
// have |pred - target| <= tolerance (counted in u32: exact).
@compute @workgroup_size(256)
fn loss_within_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = group_index(wid, nwg);
    let i = g * 256u + lid;
    var v = 0u;
    if (i < p.n) {
        v = select(0u, 1u, abs(in1[i] - in2[i]) <= bitcast<f32>(p.f0));
    }
    let s = block_sum_u(lid, v);
    // Groups past ceil(n / 256) exist when the grid folds into y: they own
    // no partial.
    if (lid == 0u && g * 256u < p.n) {
        out3u[g] = s;
    }
}

// One workgroup: in1u = x as bits; out2[0] += how many of its n elements
// are finite (exponent bits not all ones; bits, not comparisons, because
// WGSL lets a compiler assume floats are finite). In place, for small x.
@compute @workgroup_size(256)
fn loss_add_count_finite(@builtin(local_invocation_index) lid: u32) {
    var v = 0u;
    for (var i = lid; i < p.n; i += 256u) {
        v += select(0u, 1u, (in1u[i] & 0x7f800000u) != 0x7f800000u);
    }
    let s = block_sum_u(lid, v);
    if (lid == 0u) {
        out2[0] = out2[0] + f32(s);
    }
}

// ---- final passes: one workgroup ----

// out2[0] = f0 * sum(in1[..n]).
@compute @workgroup_size(256)
fn loss_final_sum(@builtin(local_invocation_index) lid: u32) {
    var v = 0.0;
    for (var i = lid; i < p.n; i += 256u) {
        v += in1[i];
    }
    let s = block_sum(lid, v);
    if (lid == 0u) {
        out2[0] = s * bitcast<f32>(p.f0);
    }
}

// out2[0] = sum(in1u[..n]) as f32.
@compute @workgroup_size(256)
fn loss_final_count(@builtin(local_invocation_index) lid: u32) {
    var v = 0u;
    for (var i = lid; i < p.n; i += 256u) {
        v += in1u[i];
    }
    let s = block_sum_u(lid, v);
    if (lid == 0u) {
        out2[0] = f32(s);
    }
}
