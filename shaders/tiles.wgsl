// Kernels of the exact tiled VAE (src/validate/): moving boxes of NCHW activations between tiles and
// staged pieces, normalizing a tile with GroupNorm statistics reduced over every tile, and a tile's
// per-group moments. A "plane" is one (n, c) image plane; every box covers whole channel ranges, so the
// planes of a box are contiguous. Bindings are windows: global element e is at binding index off + e.
//
// Entry points and bindings (the uniforms follow the storage bindings):
//   copy_box      src, dst                         one thread per box element
//   normalize     x, weight, bias, stats, y         one thread per element
//   tile_moments  x, moments_out                    one workgroup per (n, group)

override WG: u32 = 64u;

fn flat(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

// dst[dst_plane0 + p, dy + y, dx + x] = src[src_plane0 + p, (sy + y) / up, (sx + x) / up]: a crop, a paste
// or (up = 2) a nearest-upsampled crop, whose coordinates sy, sx are in the upsampled grid.
struct Box {
  count: u32, bh: u32, bw: u32, up: u32,
  src_h: u32, src_w: u32, src_plane0: u32, sy: u32,
  sx: u32, dst_h: u32, dst_w: u32, dst_plane0: u32,
  dy: u32, dx: u32, off_src: u32, off_dst: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> box: Box;

@compute @workgroup_size(WG)
fn copy_box(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg) * WG + lid;
  if (i >= box.count) { return; }
  let x = i % box.bw;
  let t = i / box.bw;
  let y = t % box.bh;
  let p = t / box.bh;
  let s = (box.src_plane0 + p) * box.src_h * box.src_w + ((box.sy + y) / box.up) * box.src_w + (box.sx + x) / box.up;
  let d = (box.dst_plane0 + p) * box.dst_h * box.dst_w + (box.dy + y) * box.dst_w + box.dx + x;
  dst[box.off_dst + d] = src[box.off_src + s];
}

// GroupNorm's elementwise pass with statistics given per (n, group) as (mean, biased variance): rstd and
// the normalization are the same f32 expressions as shaders/group-norm.wgsl's, so a tile normalizes as
// the whole tensor would with equal statistics.
struct Norm {
  count: u32, plane0: u32, hw: u32, channels: u32,
  per_group: u32, off_x: u32, off_y: u32, eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<IN_weight>;
@group(0) @binding(2) var<storage, read> bias: array<IN_bias>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> norm: Norm;

@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg) * WG + lid;
  if (i >= norm.count) { return; }
  let e = norm.plane0 * norm.hw + i;
  let plane = e / norm.hw;
  let c = plane % norm.channels;
  let bg = plane / norm.per_group;
  let rstd = inverseSqrt(max(stats[2u * bg + 1u], 0.0) + norm.eps);
  let xhat = (x[norm.off_x + e] - stats[2u * bg]) * rstd;
  y[norm.off_y + e] = xhat * ld_weight(c) + ld_bias(c);
}

// (mean, M2) of each group's len contiguous elements, two passes over the data (mean first, then the
// squared deviations from it): no cancellation, whatever the mean. moments_out[2 (out0 + g) + {0, 1}].
struct Mom { groups: u32, len: u32, group0: u32, off_x: u32, out0: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<storage, read> mx: array<f32>;
@group(0) @binding(1) var<storage, read_write> moments_out: array<f32>;
@group(0) @binding(2) var<uniform> mom: Mom;

var<workgroup> partial: array<f32, WG>;

// Every thread gets the workgroup's sum (a tree: pairwise rounding).
fn workgroup_total(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    workgroupBarrier();
    if (lid < k) { partial[lid] += partial[lid + k]; }
  }
  workgroupBarrier();
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn tile_moments(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = flat(wid, nwg);
  if (g >= mom.groups) { return; }
  let base = mom.off_x + (mom.group0 + g) * mom.len;
  var s = 0.0;
  for (var k = lid; k < mom.len; k += WG) { s += mx[base + k]; }
  let mean = workgroup_total(s, lid) / f32(mom.len);
  var q = 0.0;
  for (var k = lid; k < mom.len; k += WG) {
    let d = mx[base + k] - mean;
    q += d * d;
  }
  let m2 = workgroup_total(q, lid);
  if (lid == 0u) {
    moments_out[2u * (mom.out0 + g)] = mean;
    moments_out[2u * (mom.out0 + g) + 1u] = m2;
  }
}
