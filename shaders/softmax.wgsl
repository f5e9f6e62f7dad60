// Softmax over the last dim of a [rows, L] view: one workgroup per row. Forward: each thread keeps an online
// (max, sum of exp) pair over its strided elements; pairs merge in a tree, then every element is written
// once. Backward: gx = y * (gy - sum(gy * y)), one tree sum per row. Bindings start at aligned offsets; the
// *_base fields say where row 0 starts in each.
override WG: u32 = 64;

struct FwdParams { rows: u32, L: u32, x_base: u32, y_base: u32 }
struct BwdParams { rows: u32, L: u32, y_base: u32, g_base: u32, gx_base: u32 }

@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> fp: FwdParams;

@group(0) @binding(0) var<storage, read> ys: array<IN_ys>;
@group(0) @binding(1) var<storage, read> gy: array<IN_gy>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> bp: BwdParams;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= fp.rows) { return; }
  let xs = fp.x_base + row * fp.L;
  // (m, s): running max and sum of exp(v - m) of this thread's elements; s = 0 means none yet. Huge
  // arguments to exp are avoided on purpose: some drivers' exp(-3e38) is not 0.
  var m = 0.0;
  var s = 0.0;
  for (var j = lid; j < fp.L; j += WG) {
    let v = ld_x(xs + j);
    if (s == 0.0) {
      m = v;
      s = 1.0;
    } else if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  red_m[lid] = m;
  red_s[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k && red_s[lid + k] > 0.0) {
      let m1 = red_m[lid];
      let m2 = red_m[lid + k];
      if (red_s[lid] == 0.0) {
        red_m[lid] = m2;
        red_s[lid] = red_s[lid + k];
      } else {
        let mm = max(m1, m2);
        red_s[lid] = red_s[lid] * exp(m1 - mm) + red_s[lid + k] * exp(m2 - mm);
        red_m[lid] = mm;
      }
    }
    workgroupBarrier();
  }
  let mx = red_m[0];
  let inv = 1.0 / red_s[0];
  let yo = fp.y_base + row * fp.L;
  for (var j = lid; j < fp.L; j += WG) {
    y[yo + j] = exp(ld_x(xs + j) - mx) * inv;
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= bp.rows) { return; }
  let yo = bp.y_base + row * bp.L;
  let go = bp.g_base + row * bp.L;
  var acc = 0.0;
  for (var j = lid; j < bp.L; j += WG) {
    acc += ld_ys(yo + j) * ld_gy(go + j);
  }
  red_s[lid] = acc;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red_s[lid] = red_s[lid] + red_s[lid + k]; }
    workgroupBarrier();
  }
  let dot = red_s[0];
  let xo = bp.gx_base + row * bp.L;
  for (var j = lid; j < bp.L; j += WG) {
    gx[xo + j] = ld_ys(yo + j) * (ld_gy(go + j) - dot);
  }
}
