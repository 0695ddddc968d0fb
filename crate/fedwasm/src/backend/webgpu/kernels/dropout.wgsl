// Inverted-dropout masks from the counter-based hash of crate::rng
// (counter_uniform), reproduced bit for bit: u32 arithmetic only (WGSL's
// u32 multiplication wraps like Rust's wrapping_mul), and 24 hash bits
// times 2^-24, exact in f32. One-dimensional grid of 256 (backend.rs).
//
//   dropout_mask: -> mask   params: n, seed (low, high u32), stream,
//                                   keep = 1 / (1 - rate) and rate as f32 bits

struct Params {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    stream: u32,
    keep: u32,
    rate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;

// crate::rng::hash32 (lowbias32).
fn hash32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

@compute @workgroup_size(256)
fn dropout_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let key = hash32(p.seed_lo ^ hash32(p.seed_hi ^ 0x9e3779b9u));
    let h = hash32(hash32(key ^ p.stream) ^ (i * 0x9e3779b9u));
    let u = f32(h >> 8u) * (1.0 / 16777216.0);
    mask[i] = select(0.0, bitcast<f32>(p.keep), u >= bitcast<f32>(p.rate));
}
