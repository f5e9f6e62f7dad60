// Optimizer kernels, all without host readbacks: AdamW (torch.optim.AdamW semantics) with an optional skip
// flag, gradient clipping by global norm, and the all-finite check for dynamic loss scaling.
override WG: u32 = 256;

// ---- AdamW ----------------------------------------------------------------------------------------------
// Bias corrections come from the host (exact, when it knows the step) or are computed here from the state's
// step counter (count of applied updates), which is what a GPU-side skip needs.
struct AdamParams {
  n: u32, use_flag: u32, gpu_step: u32, _pad: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32,
  decay: f32,          // 1 - lr * weight_decay
  step_size: f32,      // host path: lr / (1 - beta1^t)
  bc2_sqrt: f32,       // host path: sqrt(1 - beta2^t)
  ln_beta1: f32,       // GPU path: log(beta1), log(beta2)
  ln_beta2: f32,
  // 1 - beta from the host: 1 - f32(0.999) would be 1.3e-5 off.
  one_minus_beta1: f32,
  one_minus_beta2: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<IN_g>;
@group(0) @binding(2) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(4) var<storage, read> flag: array<f32>;
@group(0) @binding(5) var<storage, read> step_count: array<f32>;
@group(0) @binding(6) var<uniform> ap: AdamParams;

// exp(x) - 1 without cancellation for small |x| (1 - beta2^t is ~1e-3 at t = 1). Taylor terms to x^10
// below |x| = 0.5 (truncation < 1e-9 relative), exp elsewhere (then exp(x) - 1 has no cancellation).
fn expm1(x: f32) -> f32 {
  if (abs(x) >= 0.5) { return exp(x) - 1.0; }
  var t = 1.0;
  for (var k = 10u; k >= 2u; k--) { t = 1.0 + x * t / f32(k); }
  return x * t;
}

@compute @workgroup_size(WG)
fn adamw(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= ap.n) { return; }
  if (ap.use_flag == 1u && flag[0] == 0.0) { return; }
  var step_size = ap.step_size;
  var bc2_sqrt = ap.bc2_sqrt;
  if (ap.gpu_step == 1u) {
    let t = step_count[0] + 1.0;
    step_size = ap.lr / -expm1(t * ap.ln_beta1);
    bc2_sqrt = sqrt(-expm1(t * ap.ln_beta2));
  }
  let gi = ld_g(i);
  let p = param[i] * ap.decay;
  let m = exp_avg[i] * ap.beta1 + ap.one_minus_beta1 * gi;
  let v = exp_avg_sq[i] * ap.beta2 + ap.one_minus_beta2 * gi * gi;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  param[i] = p - step_size * (m / (sqrt(v) / bc2_sqrt + ap.eps));
}

// Counts the update once every parameter has been stepped (dispatches run in order).
@group(0) @binding(0) var<storage, read> count_flag: array<f32>;
@group(0) @binding(1) var<storage, read_write> counter: array<f32>;
@group(0) @binding(2) var<uniform> cp: AdamParams;

@compute @workgroup_size(1)
fn adamw_count() {
  if (cp.use_flag == 1u && count_flag[0] == 0.0) { return; }
  counter[0] = counter[0] + 1.0;
}

// ---- Gradient clipping ----------------------------------------------------------------------------------
struct ClipParams { n: u32, max_norm: f32 }

// norm = sqrt(sum of squares); coef = min(1, max_norm / (norm + 1e-6)) (torch.nn.utils.clip_grad_norm_).
@group(0) @binding(0) var<storage, read> sumsq: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> coef_out: array<f32>;
@group(0) @binding(3) var<uniform> clp: ClipParams;

@compute @workgroup_size(1)
fn clip_coef() {
  let norm = sqrt(sumsq[0]);
  norm_out[0] = norm;
  coef_out[0] = min(1.0, clp.max_norm / (norm + 1e-6));
}

// g *= coef, in place.
@group(0) @binding(0) var<storage, read> coef_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> scaled: array<f32>;
@group(0) @binding(2) var<uniform> sp: ClipParams;

@compute @workgroup_size(WG)
fn scale_in_place(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= sp.n) { return; }
  scaled[i] = scaled[i] * coef_in[0];
}

// ---- All finite -----------------------------------------------------------------------------------------
// Reads raw bits (the exponent all ones means inf or NaN: float compares may be optimized on the assumption
// that there are none). Any thread that finds one stores 0.0's bits into the flag, which starts as 1.0; an
// integer atomic store of one value, so the result does not depend on timing.
struct FiniteParams { n: u32 }

@group(0) @binding(0) var<storage, read> words: array<u32>;
@group(0) @binding(1) var<storage, read_write> finite_flag: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> fnp: FiniteParams;

@compute @workgroup_size(WG)
fn finite_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= fnp.n) { return; }
  if ((words[i] & 0x7f800000u) == 0x7f800000u) { atomicStore(&finite_flag[0], 0u); }
}

// One thread per word of packed halves; n counts halves (the pad half of an odd count is not looked at).
@compute @workgroup_size(WG)
fn finite_f16(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = (wid.x + wid.y * nwg.x) * WG + lid;
  if (w * 2u >= fnp.n) { return; }
  let bits = words[w];
  let lo_bad = (bits & 0x7c00u) == 0x7c00u;
  let hi_bad = w * 2u + 1u < fnp.n && (bits & 0x7c000000u) == 0x7c000000u;
  if (lo_bad || hi_bad) { atomicStore(&finite_flag[0], 0u); }
}
