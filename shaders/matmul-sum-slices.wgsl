// Split-K epilogue: dst[base + i] (+)= sum over s < slices of ws[s * n + i]. The GEMM wrote one partial
// product per depth slice into the workspace ws; one thread per output element adds them up.
struct Params { n: u32, slices: u32, base: u32, accumulate: u32 }

@group(0) @binding(0) var<storage, read> ws: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.slices; z++) { s += ws[z * p.n + i]; }
  if (p.accumulate != 0u) { s += dst[p.base + i]; }
  dst[p.base + i] = s;
}
