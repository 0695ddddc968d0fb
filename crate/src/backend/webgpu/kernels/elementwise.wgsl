// Elementwise kernels over flat f32 buffers (see backend.rs for the
// conventions: binding 0 the parameters, one-dimensional grids of 256).
//
// Each entry point uses exactly the bindings its host function passes:
//   binary (add, mul):      a, b -> out          params: n
//   add_assign:             acc (read-write), x  params: n
//   relu:                   x -> out             params: n
//   relu_backward:          y, dy -> out         params: n

struct Params {
    n: u32,
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
