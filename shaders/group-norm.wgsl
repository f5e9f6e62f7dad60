// GroupNorm on [N, C, hw] with N = B * frames, the frames of a sample adjacent: statistics (mean, biased
// variance) per (sample b, group g), pooled over the group's C / G channels of all frames of b. frames = 1
// is torch's GroupNorm; frames = F is LatentSync's resnet norm on [(b f), c, h, w].
// A row is one (n, c) plane of hw elements, row = n * C + c. Kernels see a chunk of rows [row0, row0 + rows)
// of x, y, gy and gx through windows: global element e of x is at off_x + e (y or gy: off_y + e, gx: off_gx + e).
// Saved per (b, g): stats = (mean, rstd). Backward per row: rowsums = (sum gy * xhat, sum gy).
//
// Entry points and bindings (the uniforms follow the storage bindings):
//   row_moments    x, rows_out                       one workgroup per row: (mean, M2) of the row
//   group_stats    rows_in, stats_out                one thread per (b, g): merge its rows' moments
//   apply          x, weight, bias, stats, y         one thread per element
//   backward_rows  x, rows_out, gy, stats            one workgroup per row: (sum gy * xhat, sum gy)
//   backward_sums  rows_in, weight, coef_out, gw, gb  threads per (b, g): coef; then per channel: gw, gb
//   backward_dx    x, weight, gy, stats, coef, gx    one thread per element

struct Params {
  rows: u32, row0: u32, hw: u32, channels: u32,
  groups: u32, frames: u32, n_groups: u32, off_x: u32,
  off_y: u32, eps: f32, inv_count: f32, n_samples: u32,
  off_gx: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(0) var<storage, read> rows_in: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<IN_weight>;
@group(0) @binding(1) var<storage, read_write> rows_out: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats_out: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<IN_bias>;
@group(0) @binding(2) var<storage, read> gy: array<IN_gy>;
@group(0) @binding(2) var<storage, read_write> coef_out: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> gw: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
@group(0) @binding(4) var<storage, read_write> gb: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;
@group(0) @binding(2) var<uniform> p2: Params;
@group(0) @binding(4) var<uniform> p4: Params;
@group(0) @binding(5) var<uniform> p5: Params;
@group(0) @binding(6) var<uniform> p6: Params;

fn flat(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

// (b, g) of a row.
fn group_of(q: Params, row: u32) -> u32 {
  let c = row % q.channels;
  let n = row / q.channels;
  return (n / q.frames) * q.groups + c / (q.channels / q.groups);
}

@compute @workgroup_size(WG)
fn row_moments(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = p2;
  let t = flat(wid, nwg);
  if (t >= q.rows) { return; }
  let row = q.row0 + t;
  let base = q.off_x + row * q.hw;
  var s = Moments(0.0, 0.0, 0.0);
  for (var k = lid; k < q.hw; k += WG) { s = moments_add(s, ld_x(base + k)); }
  let m = workgroup_moments(s, lid);
  if (lid == 0u) {
    rows_out[2u * row] = m.mean;
    rows_out[2u * row + 1u] = m.m2;
  }
}

// Rows of equal size hw merge with exact weights: after k rows, the next one weighs 1 / (k + 1).
@compute @workgroup_size(WG)
fn group_stats(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = p2;
  let bg = flat(wid, nwg) * WG + lid;
  if (bg >= q.n_groups) { return; }
  let b = bg / q.groups;
  let cg = q.channels / q.groups;
  let c0 = (bg % q.groups) * cg;
  var mean = 0.0;
  var m2 = 0.0;
  var k = 0.0;
  for (var f = 0u; f < q.frames; f++) {
    for (var c = 0u; c < cg; c++) {
      let row = (b * q.frames + f) * q.channels + c0 + c;
      let d = rows_in[2u * row] - mean;
      mean += d / (k + 1.0);
      m2 += rows_in[2u * row + 1u] + d * d * f32(q.hw) * (k / (k + 1.0));
      k += 1.0;
    }
  }
  stats_out[2u * bg] = mean;
  stats_out[2u * bg + 1u] = inverseSqrt(max(m2 * q.inv_count, 0.0) + q.eps);
}

@compute @workgroup_size(WG)
fn apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = p5;
  let i = flat(wid, nwg) * WG + lid;
  if (i >= q.rows * q.hw) { return; }
  let e = q.row0 * q.hw + i;
  let row = e / q.hw;
  let c = row % q.channels;
  let bg = group_of(q, row);
  let xhat = (ld_x(q.off_x + e) - stats[2u * bg]) * stats[2u * bg + 1u];
  y[q.off_y + e] = xhat * ld_weight(c) + ld_bias(c);
}

@compute @workgroup_size(WG)
fn backward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = p4;
  let t = flat(wid, nwg);
  if (t >= q.rows) { return; }
  let row = q.row0 + t;
  let bg = group_of(q, row);
  let mean = stats[2u * bg];
  let rstd = stats[2u * bg + 1u];
  var s = vec2f(0.0);
  for (var k = lid; k < q.hw; k += WG) {
    let e = row * q.hw + k;
    let g = ld_gy(q.off_y + e);
    s += vec2f(g * (ld_x(q.off_x + e) - mean) * rstd, g);
  }
  let total = workgroup_sum2(s, lid);
  if (lid == 0u) {
    rows_out[2u * row] = total.x;
    rows_out[2u * row + 1u] = total.y;
  }
}

// Threads [0, n_groups): coef = (mean over the group of w * gy, mean of w * gy * xhat);
// threads [n_groups, n_groups + C): gw[c] = sum over n of sum gy * xhat, gb[c] = sum over n of sum gy.
@compute @workgroup_size(WG)
fn backward_sums(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = p5;
  let t = flat(wid, nwg) * WG + lid;
  if (t < q.n_groups) {
    let b = t / q.groups;
    let cg = q.channels / q.groups;
    let c0 = (t % q.groups) * cg;
    var s = vec2f(0.0);
    for (var f = 0u; f < q.frames; f++) {
      for (var c = c0; c < c0 + cg; c++) {
        let row = (b * q.frames + f) * q.channels + c;
        s += ld_weight(c) * vec2f(rows_in[2u * row + 1u], rows_in[2u * row]);
      }
    }
    coef_out[2u * t] = s.x * q.inv_count;
    coef_out[2u * t + 1u] = s.y * q.inv_count;
  } else if (t < q.n_groups + q.channels) {
    let c = t - q.n_groups;
    var s = vec2f(0.0);
    for (var n = 0u; n < q.n_samples; n++) {
      let row = n * q.channels + c;
      s += vec2f(rows_in[2u * row], rows_in[2u * row + 1u]);
    }
    gw[c] = s.x;
    gb[c] = s.y;
  }
}

// gx = rstd * (w * gy - mean(w * gy) - xhat * mean(w * gy * xhat)), means over the (b, g) group.
@compute @workgroup_size(WG)
fn backward_dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = p6;
  let i = flat(wid, nwg) * WG + lid;
  if (i >= q.rows * q.hw) { return; }
  let e = q.row0 * q.hw + i;
  let row = e / q.hw;
  let c = row % q.channels;
  let bg = group_of(q, row);
  let rstd = stats[2u * bg + 1u];
  let xhat = (ld_x(q.off_x + e) - stats[2u * bg]) * rstd;
  let u = ld_weight(c) * ld_gy(q.off_y + e);
  gx[q.off_gx + e] = rstd * (u - coef[2u * bg] - xhat * coef[2u * bg + 1u]);
}
