// Deterministic parallel reductions (no float atomics: the partition into blocks depends only on sizes, so a
// sum is bit-identical on every run).
//  - Flat: each workgroup sums one block of WG * ITEMS elements (ITEMS per thread, coalesced, then a tree in
//    workgroup memory) into partial[out_base + block]; the host repeats passes over the partials until one
//    value is left. Tree sums keep the rounding error at O(log n) ulps, sound for millions of elements.
//  - Rows: one workgroup per row of a [rows, L] view (sum along the last dim); threads stride along the row
//    with a compensated (Kahan) sum, then the tree.
//  - Elementwise backward helpers: broadcast a per-row gradient, and the mse gradient.
override WG: u32 = 256;
override ITEMS: u32 = 8;

// Flat passes. n: elements in this binding; partials go to out[out_base + block]; mode 0 sums x, mode 1
// sums x*x; every partial is multiplied by scale (1 except in a final mean pass).
struct FlatParams { n: u32, out_base: u32, mode: u32, scale: f32 }

// Row passes. base: index of row 0's first element in the x binding (bindings start at aligned offsets);
// y_base: same for the output; row length L.
struct RowParams { rows: u32, L: u32, base: u32, y_base: u32, scale: f32 }

// Elementwise helpers: count elements of this chunk, start: global index of its first element, L: elements
// per gradient value (the reduced length), scale: d(reduction)/d(x); the g binding starts at row g_row0,
// which sits at index g_base in it.
struct EltParams { count: u32, start: u32, L: u32, scale: f32, g_row0: u32, g_base: u32 }

@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> fp: FlatParams;

@group(0) @binding(2) var<uniform> rp: RowParams;

@group(0) @binding(0) var<storage, read> a: array<IN_a>;
@group(0) @binding(1) var<storage, read> b: array<IN_b>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(3) var<uniform> fp2: FlatParams;

@group(0) @binding(0) var<storage, read> g: array<IN_g>;
@group(0) @binding(1) var<storage, read_write> gx: array<f32>;
@group(0) @binding(2) var<uniform> ep: EltParams;

@group(0) @binding(2) var<storage, read> gy: array<IN_gy>;
@group(0) @binding(3) var<storage, read_write> ga: array<f32>;
@group(0) @binding(4) var<storage, read_write> gb: array<f32>;
@group(0) @binding(5) var<uniform> ep2: EltParams;

var<workgroup> tree: array<f32, WG>;

// Sum of every thread's v; must be reached by the whole workgroup (it has barriers).
fn tree_sum(lid: u32, v: f32) -> f32 {
  tree[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { tree[lid] = tree[lid] + tree[lid + s]; }
    workgroupBarrier();
  }
  return tree[0];
}

@compute @workgroup_size(WG)
fn flat(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let blk = wid.x + wid.y * nwg.x;
  let first = blk * WG * ITEMS;
  if (first >= fp.n) { return; }
  var acc = 0.0;
  for (var k = 0u; k < ITEMS; k++) {
    let i = first + k * WG + lid;
    if (i < fp.n) {
      let v = ld_x(i);
      acc += select(v, v * v, fp.mode == 1u);
    }
  }
  let total = tree_sum(lid, acc);
  if (lid == 0u) { out[fp.out_base + blk] = total * fp.scale; }
}

// Sum of squared differences (the mse loss's first pass).
@compute @workgroup_size(WG)
fn flat_sqdiff(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let blk = wid.x + wid.y * nwg.x;
  let first = blk * WG * ITEMS;
  if (first >= fp2.n) { return; }
  var acc = 0.0;
  for (var k = 0u; k < ITEMS; k++) {
    let i = first + k * WG + lid;
    if (i < fp2.n) {
      let d = ld_a(i) - ld_b(i);
      acc += d * d;
    }
  }
  let total = tree_sum(lid, acc);
  if (lid == 0u) { out2[fp2.out_base + blk] = total * fp2.scale; }
}

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= rp.rows) { return; }
  let start = rp.base + row * rp.L;
  var acc = 0.0;
  var comp = 0.0;
  for (var j = lid; j < rp.L; j += WG) {
    let t = ld_x(start + j) - comp;
    let s = acc + t;
    comp = (s - acc) - t;
    acc = s;
  }
  let total = tree_sum(lid, acc);
  if (lid == 0u) { out[rp.y_base + row] = total * rp.scale; }
}

// Backward of sum/mean: gx[start + i] = g[(start + i) / L] * scale.
@compute @workgroup_size(WG)
fn broadcast(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= ep.count) { return; }
  gx[i] = ld_g((ep.start + i) / ep.L - ep.g_row0 + ep.g_base) * ep.scale;
}

// Backward of mse: ga = scale * gy * (a - b), gb = -ga, with scale = 2 / n.
@compute @workgroup_size(WG)
fn sqdiff_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= ep2.count) { return; }
  let v = ep2.scale * ld_gy(0u) * (ld_a(i) - ld_b(i));
  ga[i] = v;
  gb[i] = -v;
}
