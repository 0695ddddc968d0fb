// Optimizer updates in place, one thread per element (see backend.rs for the
// conventions: binding 0 the parameters, one-dimensional grids of 256).
// The arithmetic is the CPU's (cpu/optim.rs), operation for operation:
// moving averages as `a + (x - a) * (1 - beta)`, the `1 - beta` factors and
// Adam's and Yogi's bias-corrected rate computed on the host in f32.
//
// Bindings (w = the variable, g = the gradient, both [n]):
//   sgd:           w, g                  sgd_rows:      w, g, rows
//   sgd_momentum:  w, g, acc             adagrad_rows:  w, g, acc, rows
//   adam, yogi:    w, g, acc, pre
//   adagrad:       w, g, acc
//   rmsprop:       w, g, pre (as s1)
//
// The `_rows` kernels update only the rows of a sparse gradient: g is
// [m, k], `rows` its m row ids (unique), and thread t = j * k + c updates
// element rows[j] * k + c of w (and of the slot) with g[t].

struct Params {
    // Threads: elements (dense) or m * k (by rows).
    n: u32,
    // Row length (by rows).
    k: u32,
    // Learning rate (Adam, Yogi: bias-corrected), f32 bits.
    lr: u32,
    // Denominator epsilon, f32 bits.
    eps: u32,
    // Momentum (SGD), or 1 - beta_1 (Adam, Yogi), f32 bits.
    c1: u32,
    // 1 - beta_2 (Adam, Yogi), or 1 - decay (RMSprop), f32 bits.
    c2: u32,
    // 1 for Nesterov momentum.
    nesterov: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> s1: array<f32>;
@group(0) @binding(4) var<storage, read_write> s2: array<f32>;
// The row ids of the `_rows` kernels, after their other buffers.
@group(0) @binding(3) var<storage, read> rows3: array<u32>;
@group(0) @binding(4) var<storage, read> rows4: array<u32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

fn f(bits: u32) -> f32 {
    return bitcast<f32>(bits);
}

// `sign(x)` with sign(0) = 0 (and NaN -> 0, as the CPU's comparisons give).
fn sign0(x: f32) -> f32 {
    if (x > 0.0) { return 1.0; }
    if (x < 0.0) { return -1.0; }
    return 0.0;
}

// w -= lr * g, at element i of w and gi of g.
fn sgd_at(i: u32, gi: u32) {
    w[i] = w[i] - f(p.lr) * g[gi];
}

// acc += g^2; w -= lr * g / (sqrt(acc) + eps).
fn adagrad_at(i: u32, gi: u32) {
    let gv = g[gi];
    let s = s1[i] + gv * gv;
    s1[i] = s;
    w[i] = w[i] - f(p.lr) * gv / (sqrt(s) + f(p.eps));
}

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    sgd_at(i, i);
}

// acc = m * acc + g; w -= lr * acc, or (Nesterov) w -= lr * (g + m * acc).
@compute @workgroup_size(256)
fn sgd_momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let m = f(p.c1);
    let gv = g[i];
    let a = m * s1[i] + gv;
    s1[i] = a;
    var d: f32;
    if (p.nesterov != 0u) {
        d = f(p.lr) * (gv + m * a);
    } else {
        d = f(p.lr) * a;
    }
    w[i] = w[i] - d;
}

// acc += (g - acc) (1 - b1); pre += (g^2 - pre) (1 - b2);
// w -= lr_t * acc / (sqrt(pre) + eps).
@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let gv = g[i];
    let a = s1[i] + (gv - s1[i]) * f(p.c1);
    let v = s2[i] + (gv * gv - s2[i]) * f(p.c2);
    s1[i] = a;
    s2[i] = v;
    w[i] = w[i] - f(p.lr) * a / (sqrt(v) + f(p.eps));
}

// As Adam, but pre -= (1 - b2) * sign(pre - g^2) * g^2.
@compute @workgroup_size(256)
fn yogi(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let gv = g[i];
    let g2 = gv * gv;
    let a = s1[i] + (gv - s1[i]) * f(p.c1);
    let v = s2[i] - f(p.c2) * sign0(s2[i] - g2) * g2;
    s1[i] = a;
    s2[i] = v;
    w[i] = w[i] - f(p.lr) * a / (sqrt(v) + f(p.eps));
}

@compute @workgroup_size(256)
fn adagrad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    adagrad_at(i, i);
}

// pre += (g^2 - pre) (1 - decay); w -= lr * g / (sqrt(pre) + eps).
@compute @workgroup_size(256)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(gid, nwg);
    if (i >= p.n) { return; }
    let gv = g[i];
    let s = s1[i] + (gv * gv - s1[i]) * f(p.c2);
    s1[i] = s;
    w[i] = w[i] - f(p.lr) * gv / (sqrt(s) + f(p.eps));
}

@compute @workgroup_size(256)
fn sgd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    let j = t / p.k;
    sgd_at(rows3[j] * p.k + (t - j * p.k), t);
}

@compute @workgroup_size(256)
fn adagrad_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    let j = t / p.k;
    adagrad_at(rows4[j] * p.k + (t - j * p.k), t);
}
