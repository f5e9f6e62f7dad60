// Broadcasting elementwise kernels on affine index maps (see src/tensor/broadcast.ts): a thread takes one
// element o of the logical shape (flat, global: chunk start + thread), splits it into coordinates and reads
// each operand at off + sum(coord * stride). Shapes and strides are innermost-first, `rank` dims used.
//   add:  y = alpha * a + beta * b        mul:  y = alpha * a * b
//   copy: dst[strided] = src[strided]      (slice, concat and their backward)
//   sum_thread / sum_group: dst[j] (+)= scale * sum over the reduced dims of src (backward of broadcasting)
// The entry points use different binding layouts; each one's bindings are numbered from 0.

override WG: u32 = 64u;

struct Params {
  n: u32, start: u32, rank: u32, alpha: f32,
  beta: f32, off_a: u32, off_b: u32, off_y: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
  sy: array<vec4u, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<IN_a>;
@group(0) @binding(1) var<storage, read> b: array<IN_b>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn at(v: array<vec4u, 2>, d: u32) -> u32 { return v[d >> 2u][d & 3u]; }

// Operand indices (a, b, y) of logical element o.
fn indices(o: u32) -> vec3u {
  var rem = o;
  var idx = vec3u(p.off_a, p.off_b, p.off_y);
  for (var d = 0u; d < p.rank; d++) {
    let n = at(p.shape, d);
    let c = rem % n;
    rem = rem / n;
    idx += c * vec3u(at(p.sa, d), at(p.sb, d), at(p.sy, d));
  }
  return idx;
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let k = indices(p.start + i);
  y[k.z] = p.alpha * ld_a(k.x) + p.beta * ld_b(k.y);
}

@compute @workgroup_size(WG)
fn mul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let k = indices(p.start + i);
  y[k.z] = p.alpha * ld_a(k.x) * ld_b(k.y);
}

// ---- strided copy: bindings src, dst, uniforms (the a and y fields of Params) ----

@group(0) @binding(0) var<storage, read> src: array<IN_src>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> pc: Params;

@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= pc.n) { return; }
  var rem = pc.start + i;
  var at_src = pc.off_a;
  var to = pc.off_y;
  for (var d = 0u; d < pc.rank; d++) {
    let n = at(pc.shape, d);
    let c = rem % n;
    rem = rem / n;
    at_src += c * at(pc.sa, d);
    to += c * at(pc.sy, d);
  }
  dst[to] = ld_src(at_src);
}

// ---- sum over broadcast dims: bindings src, dst (f32), uniforms ----
// Output j (kept coordinates) reads src at off_src + kept(j) + reduced(r) for r in [r0, r0 + r_count).

struct ReduceParams {
  n_out: u32, j0: u32, r0: u32, r_count: u32,
  off_src: u32, off_dst: u32, k_rank: u32, r_rank: u32,
  accumulate: u32, scale: f32, pad0: u32, pad1: u32,
  k_shape: array<vec4u, 2>,
  k_stride: array<vec4u, 2>,
  r_shape: array<vec4u, 2>,
  r_stride: array<vec4u, 2>,
}

@group(0) @binding(2) var<uniform> pr: ReduceParams;

fn kept_offset(j: u32) -> u32 {
  var rem = j;
  var off = 0u;
  for (var d = 0u; d < pr.k_rank; d++) {
    let n = at(pr.k_shape, d);
    off += (rem % n) * at(pr.k_stride, d);
    rem = rem / n;
  }
  return off;
}

fn reduced_offset(r: u32) -> u32 {
  var rem = r;
  var off = 0u;
  for (var d = 0u; d < pr.r_rank; d++) {
    let n = at(pr.r_shape, d);
    off += (rem % n) * at(pr.r_stride, d);
    rem = rem / n;
  }
  return off;
}

fn store_sum(t: u32, acc: f32) {
  let i = pr.off_dst + t;
  var v = pr.scale * acc;
  if (pr.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

// One thread per output: for short reductions.
@compute @workgroup_size(WG)
fn sum_thread(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= pr.n_out) { return; }
  let base = pr.off_src + kept_offset(pr.j0 + t);
  var acc = 0.0;
  for (var k = 0u; k < pr.r_count; k++) { acc += ld_src(base + reduced_offset(pr.r0 + k)); }
  store_sum(t, acc);
}

var<workgroup> partial: array<f32, WG>;

// One workgroup per output: threads stride over the reduced elements, then a tree sum (WG a power of two).
@compute @workgroup_size(WG)
fn sum_group(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= pr.n_out) { return; }
  let base = pr.off_src + kept_offset(pr.j0 + t);
  var acc = 0.0;
  for (var k = lid; k < pr.r_count; k += WG) { acc += ld_src(base + reduced_offset(pr.r0 + k)); }
  partial[lid] = acc;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { partial[lid] += partial[lid + s]; }
  }
  if (lid == 0u) { store_sum(t, partial[0]); }
}
