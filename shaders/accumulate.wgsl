// dst += src over a flat range; gradients are f32, the source may be stored as f16.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> src: array<IN_src>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.n) { return; }
  dst[i] = dst[i] + ld_src(i);
}
