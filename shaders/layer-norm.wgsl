// LayerNorm over the last dim: rows of `cols` elements, statistics (mean, biased variance) per row.
// Kernels see a chunk of rows [row0, row0 + rows) through windows: global element e of x is at off_x + e
// (y or gy: off_y + e, gx: off_gx + e). Saved per row: stats = (mean, rstd). Without weight or bias the
// flags are 0 and whatever is bound there is not read.
//
// Entry points and bindings (the uniforms follow, at binding 5):
//   forward         x, weight, bias, stats_out, y    one workgroup per row
//   backward        x, weight, gy, stats, gx         one workgroup per row
//   param_partials  x, pw, gy, stats, pb             one thread per column, per block of row_block rows:
//                                                    pw = sum gy * xhat, pb = sum gy over the block

struct Params {
  rows: u32, row0: u32, cols: u32, off_x: u32,
  off_y: u32, off_gx: u32, eps: f32, inv_cols: f32,
  has_weight: u32, has_bias: u32, row_block: u32, col_blocks: u32,
}

@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(1) var<storage, read> weight: array<IN_weight>;
@group(0) @binding(1) var<storage, read_write> pw: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<IN_bias>;
@group(0) @binding(2) var<storage, read> gy: array<IN_gy>;
@group(0) @binding(3) var<storage, read_write> stats_out: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;
@group(0) @binding(4) var<storage, read_write> pb: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn flat(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

fn w_at(c: u32) -> f32 { return select(1.0, ld_weight(c), p.has_weight != 0u); }

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wid, nwg);
  if (t >= p.rows) { return; }
  let row = p.row0 + t;
  let base = row * p.cols;
  var s = Moments(0.0, 0.0, 0.0);
  for (var c = lid; c < p.cols; c += WG) { s = moments_add(s, ld_x(p.off_x + base + c)); }
  let m = workgroup_moments(s, lid);
  let rstd = inverseSqrt(max(m.m2 * p.inv_cols, 0.0) + p.eps);
  for (var c = lid; c < p.cols; c += WG) {
    var v = (ld_x(p.off_x + base + c) - m.mean) * rstd * w_at(c);
    if (p.has_bias != 0u) { v += ld_bias(c); }
    y[p.off_y + base + c] = v;
  }
  if (lid == 0u) {
    stats_out[2u * row] = m.mean;
    stats_out[2u * row + 1u] = rstd;
  }
}

// gx = rstd * (u - mean(u) - xhat * mean(u * xhat)), u = w * gy, means over the row.
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wid, nwg);
  if (t >= p.rows) { return; }
  let row = p.row0 + t;
  let base = row * p.cols;
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  var s = vec2f(0.0);
  for (var c = lid; c < p.cols; c += WG) {
    let u = w_at(c) * ld_gy(p.off_y + base + c);
    s += vec2f(u, u * (ld_x(p.off_x + base + c) - mean) * rstd);
  }
  let sums = workgroup_sum2(s, lid) * p.inv_cols;
  for (var c = lid; c < p.cols; c += WG) {
    let u = w_at(c) * ld_gy(p.off_y + base + c);
    let xhat = (ld_x(p.off_x + base + c) - mean) * rstd;
    gx[p.off_gx + base + c] = rstd * (u - sums.x - xhat * sums.y);
  }
}

// Workgroup t covers columns [cb * WG, cb * WG + WG) of the row block rb (cb = t % col_blocks); the partial
// sums go to row rb (global: row0 / row_block + local block) of the [blocks, cols] partials.
@compute @workgroup_size(WG)
fn param_partials(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wid, nwg);
  let c = (t % p.col_blocks) * WG + lid;
  let local_block = t / p.col_blocks;
  let r0 = local_block * p.row_block;
  if (c >= p.cols || r0 >= p.rows) { return; }
  var s = vec2f(0.0);
  for (var r = r0; r < min(r0 + p.row_block, p.rows); r++) {
    let row = p.row0 + r;
    let g = ld_gy(p.off_y + row * p.cols + c);
    let xhat = (ld_x(p.off_x + row * p.cols + c) - stats[2u * row]) * stats[2u * row + 1u];
    s += vec2f(g * xhat, g);
  }
  let block = p.row0 / p.row_block + local_block;
  pw[block * p.cols + c] = s.x;
  pb[block * p.cols + c] = s.y;
}
