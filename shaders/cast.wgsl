// Storage-dtype conversions over a flat range. pack: f32 -> two halves per u32 word (one thread per word,
// so no two threads write the same word). unpack: the inverse.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> src: array<IN_src>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn pack(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = (wid.x + wid.y * nwg.x) * 64u + lid;
  let i = w * 2u;
  if (i >= p.n) { return; }
  let hi = select(0.0, ld_src(i + 1u), i + 1u < p.n);
  dst[w] = pack2x16float(vec2f(ld_src(i), hi));
}

@compute @workgroup_size(64)
fn unpack(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.n) { return; }
  dst[i] = bitcast<u32>(ld_src(i));
}
