// C = op(A) * op(B) for small or skinny results: the layout and strides of
// matmul.wgsl (see there), one thread per element of C walking all of k, with
// no workgroup memory and no barriers. The 64x64 blocks of matmul.wgsl would
// leave most threads idle on a [20, 10] result (a batch of 20 through a
// 10-unit layer); here a 16x16 workgroup covers a 16x16 block and idles at
// most 15 rows and columns. Operands this small are served by the caches,
// and on CPU-emulated GPUs (llvmpipe, SwiftShader) barriers are what costs:
// this is 3x faster there than a tiled version. Each element sums k in order.
// f32 only; no atomics.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    rsa: u32,
    csa: u32,
    rsb: u32,
    csb: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y;
    let j = gid.x;
    if (i >= p.m || j >= p.n) {
        return;
    }
    var acc = 0.0;
    var ia = i * p.rsa;
    var ib = j * p.csb;
    for (var kk = 0u; kk < p.k; kk++) {
        acc = fma(a[ia], b[ib], acc);
        ia += p.csa;
        ib += p.rsb;
    }
    c[i * p.n + j] = acc;
}
