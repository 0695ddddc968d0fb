// Elementwise kernels over flat f32 buffers (see backend.rs for the
// conventions: binding 0 the parameters, one-dimensional grids of 256).
//
// Each entry point uses exactly the bindings its host function passes:
//   binary (add, mul):      a, b -> out          params: n
//   add_assign:             acc (read-write), x  params: n
//   relu:                   x -> out             params: n
//   relu_backward:          y, dy -> out         params: n
//   add_bias:               x, bias -> out       params: n, cols
//   sum_leading:            dy -> out [cols]     params: n, cols (16 x 16 grid)
//   broadcast_rows:         v [1, cols] -> out   params: n (output elements), cols
//   scale_rows:             x, s [rows] -> out   params: n (elements of x), cols
//   row_dot:                a, b -> out [rows]   params: n = rows, cols
// (dropout masks are in dropout.wgsl: they need more parameters.)

struct Params {
    // Elements of the (first) input.
    n: u32,
    // Length of the last axis, where the kernel needs it.
    cols: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- binary: out = f(a, b) ----
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] + b[i];
}

@compute @workgroup_size(256)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] * b[i];
}

// relu_backward: a = y (the ReLU output), b = dy.
@compute @workgroup_size(256)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = select(0.0, b[i], a[i] > 0.0);
}

// add_bias: a = x [.., cols], b = bias [cols].
@compute @workgroup_size(256)
fn add_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] + b[i % p.cols];
}

// relu: a = x; writes binding 3 too, but binding 2 is unused, so it has its
// own bindings below.
@group(0) @binding(1) var<storage, read> rx: array<f32>;
@group(0) @binding(2) var<storage, read_write> ry: array<f32>;

@compute @workgroup_size(256)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let v = rx[i];
    // NaN > 0 is false: NaN gives 0, as on the CPU.
    ry[i] = select(0.0, v, v > 0.0);
}

// add_assign: acc += x.
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;
@group(0) @binding(2) var<storage, read> ax: array<f32>;

@compute @workgroup_size(256)
fn add_assign(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    acc[i] = acc[i] + ax[i];
}

// sum_leading: ry[c] = sum over rows r of rx[r * cols + c]. A workgroup owns
// 16 columns; its 16 lanes per column sum every 16th row, then lane 0 adds
// the 16 partial sums in lane order (no atomics; deterministic).
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(16, 16)
fn sum_leading(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wid.x * 16u + lid.x;
    let rows = p.n / p.cols;
    var s = 0.0;
    if (col < p.cols) {
        for (var r = lid.y; r < rows; r += 16u) {
            s += rx[r * p.cols + col];
        }
    }
    partial[lid.y * 16u + lid.x] = s;
    workgroupBarrier();
    if (lid.y == 0u && col < p.cols) {
        var t = 0.0;
        for (var k = 0u; k < 16u; k++) {
            t += partial[k * 16u + lid.x];
        }
        ry[col] = t;
    }
}

// broadcast_rows: ry[i] = rx[i % cols] (rx = v [1, cols], n = rows * cols).
@compute @workgroup_size(256)
fn broadcast_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    ry[i] = rx[i % p.cols];
}

// scale_rows: a = x [rows, cols], b = s [rows]; out = x scaled row by row.
@compute @workgroup_size(256)
fn scale_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = a[i] * b[i / p.cols];
}

// row_dot: out[r] = dot(a[r, ..], b[r, ..]) for r < n rows of cols, one
// thread per row, in the CPU's order (cpu/embed.rs `dot`): eight interleaved
// partial sums (lane l takes columns l, l + 8, ..), the quads
// acc[l] + acc[l + 4], then ((q0 + q2) + (q1 + q3)) + tail.
@compute @workgroup_size(256)
fn row_dot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.n) { return; }
    let k = p.cols;
    let base = r * k;
    let split = k / 8u * 8u;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    for (var j = base; j < base + split; j += 8u) {
        lo += vec4<f32>(a[j], a[j + 1u], a[j + 2u], a[j + 3u])
            * vec4<f32>(b[j], b[j + 1u], b[j + 2u], b[j + 3u]);
        hi += vec4<f32>(a[j + 4u], a[j + 5u], a[j + 6u], a[j + 7u])
            * vec4<f32>(b[j + 4u], b[j + 5u], b[j + 6u], b[j + 7u]);
    }
    var tail = 0.0;
    for (var j = base + split; j < base + k; j++) {
        tail += a[j] * b[j];
    }
    let q = lo + hi;
    out[r] = ((q.x + q.z) + (q.y + q.w)) + tail;
}
