// Pointwise activations and their derivatives, on flat element ranges (global index e = start + thread;
// operand index = off + e). ACT picks the function:
//   0 silu: x * sigmoid(x)        1 gelu, erf form: x * Phi(x)
//   2 gelu, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x * sigmoid(2 u)
//   3 scale: alpha * x
// geglu_*: x is [rows, 2 * half] = (hidden, gate); y = hidden * act(gate), act = ACT (1 or 2).
// forward bindings: x, y, uniforms; backward bindings: x, gy, gx, uniforms.

override WG: u32 = 64u;
override ACT: u32 = 0u;

struct Params {
  n: u32, start: u32, off_x: u32, off_y: u32,
  off_gx: u32, half: u32, alpha: f32, pad0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> pf: Params;

@group(0) @binding(1) var<storage, read> gy: array<IN_gy>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
@group(0) @binding(3) var<uniform> pb: Params;

const SQRT1_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

// exp() of a clamped argument: no overflow to inf on any implementation.
fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-clamp(v, -80.0, 80.0)));
}

// erfc(z) for z >= 0 with relative error below 1.2e-7: the Chebyshev fit of Press et al. (Numerical
// Recipes, 2nd ed., section 6.2). WGSL has no erf, and 1 - erf(z) would cancel for large z.
fn erfc_nonneg(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + poly);
}

// The standard normal CDF, accurate in both tails.
fn phi_cdf(v: f32) -> f32 {
  let tail = 0.5 * erfc_nonneg(abs(v) * SQRT1_2);
  return select(tail, 1.0 - tail, v >= 0.0);
}

fn gelu_tanh_arg(v: f32) -> f32 {
  return SQRT_2_OVER_PI * (v + GELU_C * v * v * v);
}

fn act(v: f32, alpha: f32) -> f32 {
  switch ACT {
    case 0u: { return v * sigmoid(v); }
    case 1u: { return v * phi_cdf(v); }
    case 2u: { return v * sigmoid(2.0 * gelu_tanh_arg(v)); }
    default: { return alpha * v; }
  }
}

fn dact(v: f32, alpha: f32) -> f32 {
  switch ACT {
    case 0u: {
      let s = sigmoid(v);
      return s * (1.0 + v * (1.0 - s));
    }
    case 1u: { return phi_cdf(v) + v * INV_SQRT_2PI * exp(-0.5 * v * v); }
    case 2u: {
      // d/dv [v s(2u)] = s + 2 v s (1 - s) u'  (sech^2 u = 4 s (1 - s))
      let s = sigmoid(2.0 * gelu_tanh_arg(v));
      let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v * v);
      return s + 2.0 * v * s * (1.0 - s) * du;
    }
    default: { return alpha; }
  }
}

fn thread_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid);
  if (i >= pf.n) { return; }
  let e = pf.start + i;
  y[pf.off_y + e] = act(ld_x(pf.off_x + e), pf.alpha);
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid);
  if (i >= pb.n) { return; }
  let e = pb.start + i;
  gx[pb.off_gx + e] = ld_gy(pb.off_y + e) * dact(ld_x(pb.off_x + e), pb.alpha);
}

// One thread per output element e = (row, j): hidden at row * 2 half + j, gate at that + half.
@compute @workgroup_size(WG)
fn geglu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid);
  if (i >= pf.n) { return; }
  let e = pf.start + i;
  let h = pf.off_x + e + (e / pf.half) * pf.half;
  y[pf.off_y + e] = ld_x(h) * act(ld_x(h + pf.half), pf.alpha);
}

@compute @workgroup_size(WG)
fn geglu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid);
  if (i >= pb.n) { return; }
  let e = pb.start + i;
  let skip = (e / pb.half) * pb.half;
  let h = pb.off_x + e + skip;
  let gate = ld_x(h + pb.half);
  let g = ld_gy(pb.off_y + e);
  let o = pb.off_gx + e + skip;
  gx[o] = g * act(gate, pb.alpha);
  gx[o + pb.half] = g * ld_x(h) * dact(gate, pb.alpha);
}
