// Embedding lookups and their gradients (see backend.rs for the conventions:
// binding 0 the parameters, one-dimensional grids of 256). No atomics: the
// host groups the lookups by row (a segment plan), and each thread owns one
// output element.
//
// All three entry points use the same bindings:
//   src (f32), idx (u32), dst (f32, written)
//
//   gather_rows:     src = table [v, k], idx = ids [n] -> dst [n, k]
//                    params: n = n * k, k
//   segment_sum:     src = dy [n, k], idx = plan -> dst [m, k]
//                    params: n = m * k, k, pos (start of the positions in plan)
//   segment_scatter: as segment_sum, but row j goes to dst[rows[j]] of a
//                    zero-filled [rows, k] (params: rows, start of rows in plan)
//
// The plan of m unique rows and n lookups is one u32 array:
//   plan[0 .. m + 1]                 offsets: row j's lookups are
//                                    positions[offsets[j] .. offsets[j + 1]]
//   plan[pos .. pos + n]             positions (pos = m + 1), ascending per row
//   plan[rows .. rows + m]           unique row ids (rows = m + 1 + n)

struct Params {
    // Threads: output elements.
    n: u32,
    // Row length.
    k: u32,
    // Start of the positions in the plan.
    pos: u32,
    // Start of the row ids in the plan.
    rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// dst[t] = table[ids[t / k], t % k]: consecutive threads read consecutive
// columns of one row.
@compute @workgroup_size(256)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    let r = t / p.k;
    let c = t - r * p.k;
    dst[t] = src[idx[r] * p.k + c];
}

// Sum of column c of the lookups of unique row j, from zero in ascending
// position order: the CPU's order, so the same f32 sums.
fn segment(j: u32, c: u32) -> f32 {
    let end = idx[j + 1u];
    var s = 0.0;
    for (var q = idx[j]; q < end; q++) {
        s += src[idx[p.pos + q] * p.k + c];
    }
    return s;
}

@compute @workgroup_size(256)
fn segment_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    let j = t / p.k;
    let c = t - j * p.k;
    dst[t] = segment(j, c);
}

@compute @workgroup_size(256)
fn segment_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat(gid, nwg);
    if (t >= p.n) { return; }
    let j = t / p.k;
    let c = t - j * p.k;
    dst[idx[p.rows + j] * p.k + c] = segment(j, c);
}
