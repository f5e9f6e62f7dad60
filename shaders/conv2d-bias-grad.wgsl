// Bias gradients: dst[c] (+)= sum over o < outer, i < inner of src[base + (o * C + c) * inner + i], for a
// tensor laid out [outer, C, inner] (conv2d: [N, C, H*W]; linear: [rows, C, 1]). One workgroup per channel:
// each thread sums a strided share, then one barrier and one thread adds the partial sums (few barriers:
// they are slow on SwiftShader).
struct Params { C: u32, outer: u32, inner: u32, base: u32, accumulate: u32 }

@group(0) @binding(0) var<storage, read> src: array<IN_src>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= p.C) { return; }
  let total = p.outer * p.inner;
  var s = 0.0;
  for (var j = lid; j < total; j += WG) {
    let o = j / p.inner;
    let i = j - o * p.inner;
    s += ld_src(p.base + (o * p.C + c) * p.inner + i);
  }
  partial[lid] = s;
  workgroupBarrier();
  if (lid == 0u) {
    var t = 0.0;
    for (var k = 0u; k < WG; k++) { t += partial[k]; }
    if (p.accumulate != 0u) { t += dst[c]; }
    dst[c] = t;
  }
}
