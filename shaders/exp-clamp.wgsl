// exp and clamp over a flat range (mode 1: exp, mode 0: clamp to [lo, hi]) and their backward passes.
// backward, clamp: g where lo <= x <= hi (torch's mask), else 0; exp: g * y (x holds the forward's output).
struct Params { n: u32, mode: u32, lo: f32, hi: f32 }

@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.n) { return; }
  let v = ld_x(i);
  y[i] = select(exp(v), clamp(v, p.lo, p.hi), p.mode == 0u);
}
