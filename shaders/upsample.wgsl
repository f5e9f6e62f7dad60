// Nearest-neighbour 2x upsampling of the last two dims, on whole planes of h x w (input) / 2h x 2w (output).
// forward: one thread per output element; backward: one thread per input element, summing its 2x2 block.
// Bindings: src, dst (f32), uniforms. Global element e = start + thread; operand index = off + e.

override WG: u32 = 64u;

struct Params { n: u32, start: u32, h: u32, w: u32, off_src: u32, off_dst: u32 }

@group(0) @binding(0) var<storage, read> src: array<IN_src>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let e = p.start + i;
  let ow = 2u * p.w;
  let plane = e / (2u * p.h * ow);
  let r = e % (2u * p.h * ow);
  let source = plane * p.h * p.w + (r / ow / 2u) * p.w + (r % ow) / 2u;
  dst[p.off_dst + e] = ld_src(p.off_src + source);
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let e = p.start + i;
  let plane = e / (p.h * p.w);
  let r = e % (p.h * p.w);
  let ow = 2u * p.w;
  let top = p.off_src + plane * 4u * p.h * p.w + 2u * (r / p.w) * ow + 2u * (r % p.w);
  dst[p.off_dst + e] = (ld_src(top) + ld_src(top + 1u)) + (ld_src(top + ow) + ld_src(top + ow + 1u));
}
