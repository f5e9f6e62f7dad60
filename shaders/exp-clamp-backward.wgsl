// Backward of exp and clamp (see exp-clamp.wgsl): clamp passes g inside [lo, hi]; exp multiplies g by y.
struct Params { n: u32, mode: u32, lo: f32, hi: f32 }

@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(1) var<storage, read> g: array<IN_g>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.n) { return; }
  let v = ld_x(i);
  let inside = v >= p.lo && v <= p.hi;
  y[i] = select(ld_g(i) * v, select(0.0, ld_g(i), inside), p.mode == 0u);
}
