// Nearest-neighbour 2x upsampling of the last two dims. Input row R (one of the N * C * H rows of w
// elements) becomes output rows 2h and 2h + 1 of its plane, which are adjacent: the 4w output elements
// starting at R * 4w. forward: one thread per output element; backward: one thread per input element,
// summing its 2x2 block. Bindings: src, dst (f32), uniforms. Global element e = start + thread; operand
// index = off + e.

override WG: u32 = 64u;

struct Params { n: u32, start: u32, w: u32, off_src: u32, off_dst: u32 }

@group(0) @binding(0) var<storage, read> src: array<IN_src>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let e = p.start + i;
  let row = e / (4u * p.w);
  let col = (e % (2u * p.w)) / 2u;
  dst[p.off_dst + e] = ld_src(p.off_src + row * p.w + col);
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let e = p.start + i;
  let top = p.off_src + (e / p.w) * 4u * p.w + 2u * (e % p.w);
  let below = top + 2u * p.w;
  dst[p.off_dst + e] = (ld_src(top) + ld_src(top + 1u)) + (ld_src(below) + ld_src(below + 1u));
}
