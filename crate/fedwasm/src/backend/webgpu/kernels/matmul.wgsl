// C = op(A) * op(B): a tiled f32 GEMM with workgroup-shared tiles.
//
// Layout: every matrix is a row-major array of f32. op(A) is [m, k] and
// op(B) is [k, n]; C is [m, n]. Transposes are strides, not copies:
//   op(A)[i, p] = a[i * rsa + p * csa]   (A*B: rsa = k, csa = 1; A^T: rsa = 1, csa = m)
//   op(B)[p, j] = b[p * rsb + j * csb]   (B:   rsb = n, csb = 1; B^T: rsb = 1, csb = k)
//
// Each workgroup of 16x16 threads computes a 64x64 block of C, 4x4 elements
// per thread at stride 16 (coalesced stores, conflict-free tile reads), and
// walks k in steps of 16, staging a 64x16 tile of op(A) and a 16x64 tile of
// op(B) in workgroup memory. Elements outside the matrices are loaded as 0
// and never stored, so every m, n, k (k = 0 included) is exact.
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

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;
const THREADS: u32 = 256u; // 16 x 16

// tile_a[kk * TILE_M + r] = op(A)[row0 + r, k0 + kk]
var<workgroup> tile_a: array<f32, 1024>;
// tile_b[kk * TILE_N + s] = op(B)[k0 + kk, col0 + s]
var<workgroup> tile_b: array<f32, 1024>;

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row0 = wg.y * TILE_M;
    let col0 = wg.x * TILE_N;
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    let tiles = (p.k + TILE_K - 1u) / TILE_K;
    for (var t = 0u; t < tiles; t++) {
        let k0 = t * TILE_K;
        // Stage both tiles: 1024 elements each, 4 per thread.
        for (var e = 0u; e < 4u; e++) {
            let idx = li + e * THREADS;
            // op(A): consecutive threads take consecutive k when A is
            // row-major, consecutive rows when it is transposed.
            var r: u32;
            var ka: u32;
            if (p.csa == 1u) {
                r = idx / TILE_K;
                ka = idx % TILE_K;
            } else {
                r = idx % TILE_M;
                ka = idx / TILE_M;
            }
            let gi = row0 + r;
            let gka = k0 + ka;
            var va = 0.0;
            if (gi < p.m && gka < p.k) {
                va = a[gi * p.rsa + gka * p.csa];
            }
            tile_a[ka * TILE_M + r] = va;

            // op(B): consecutive threads take consecutive columns when B is
            // row-major, consecutive k when it is transposed.
            var s: u32;
            var kb: u32;
            if (p.csb == 1u) {
                s = idx % TILE_N;
                kb = idx / TILE_N;
            } else {
                s = idx / TILE_K;
                kb = idx % TILE_K;
            }
            let gj = col0 + s;
            let gkb = k0 + kb;
            var vb = 0.0;
            if (gj < p.n && gkb < p.k) {
                vb = b[gkb * p.rsb + gj * p.csb];
            }
            tile_b[kb * TILE_N + s] = vb;
        }
        workgroupBarrier();

        for (var kk = 0u; kk < TILE_K; kk++) {
            let ab = kk * TILE_M + lid.y;
            let bb = kk * TILE_N + lid.x;
            let bv = vec4<f32>(tile_b[bb], tile_b[bb + 16u], tile_b[bb + 32u], tile_b[bb + 48u]);
            acc[0] = fma(vec4<f32>(tile_a[ab]), bv, acc[0]);
            acc[1] = fma(vec4<f32>(tile_a[ab + 16u]), bv, acc[1]);
            acc[2] = fma(vec4<f32>(tile_a[ab + 32u]), bv, acc[2]);
            acc[3] = fma(vec4<f32>(tile_a[ab + 48u]), bv, acc[3]);
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let gi = row0 + lid.y + 16u * i;
        if (gi < p.m) {
            for (var j = 0u; j < 4u; j++) {
                let gj = col0 + lid.x + 16u * j;
                if (gj < p.n) {
                    c[gi * p.n + gj] = acc[i][j];
                }
            }
        }
    }
}
