// diffusers' sinusoidal timestep embedding. One thread per (timestep, frequency k): arg = scale * (t * freq[k])
// rounded in f32 as diffusers does; writes sin(arg) and cos(arg) to their columns (cos first when flipped)
// and, for an odd dim, the zero pad column. The frequencies (f32, computed on the host as diffusers computes
// them) come in the uniforms, FREQS_PER_DISPATCH at a time.

override WG: u32 = 64u;

struct Params {
  n: u32, half: u32, dim: u32, flip: u32,
  k0: u32, k_count: u32, scale: f32, pad0: u32,
  freqs: array<vec4f, 64>,
}

@group(0) @binding(0) var<storage, read> t: array<IN_t>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// sin and cos with Cody-Waite reduction by pi/2 (pi/4 split in three parts: the products with the quadrant
// count are exact for |x| < 8192) and minimax polynomials on [-pi/4, pi/4]: ~1e-7 absolute. WGSL's
// builtins only promise 2^-11 absolute on [-pi, pi], and timestep arguments reach ~1000.
const FOUR_OVER_PI: f32 = 1.2732395447351628;
const DP1: f32 = 0.78515625;
const DP2: f32 = 2.4187564849853515625e-4;
const DP3: f32 = 3.77489497744594108e-8;

fn sin_cos(x: f32) -> vec2f {
  let ax = abs(x);
  if (ax >= 8192.0) { return vec2f(sin(x), cos(x)); }
  var j = u32(ax * FOUR_OVER_PI);
  j += j & 1u;
  let q = f32(j);
  let r = ((ax - q * DP1) - q * DP2) - q * DP3;
  let z = r * r;
  let sr = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let cr = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  // x = r + quadrant * pi/2
  var s: f32;
  var c: f32;
  switch ((j >> 1u) & 3u) {
    case 0u: { s = sr; c = cr; }
    case 1u: { s = cr; c = -sr; }
    case 2u: { s = -sr; c = -cr; }
    default: { s = -cr; c = sr; }
  }
  return vec2f(select(s, -s, x < 0.0), c);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n * p.k_count) { return; }
  let row = i / p.k_count;
  let kl = i % p.k_count;
  let k = p.k0 + kl;
  let freq = p.freqs[kl >> 2u][kl & 3u];
  let arg = p.scale * (ld_t(row) * freq);
  let sc = sin_cos(arg);
  let base = row * p.dim;
  let flipped = p.flip != 0u;
  y[base + select(k, p.half + k, flipped)] = sc.x;
  y[base + select(p.half + k, k, flipped)] = sc.y;
  if (k == 0u && (p.dim & 1u) == 1u) { y[base + p.dim - 1u] = 0.0; }
}
