// Shared by the norm kernels (prepended to them): the mean and M2 (sum of squared deviations) of a set in
// numerically stable forms, Welford's update for one value and Chan et al.'s merge of two sets, plus
// workgroup tree reductions. WG (a power of two) is the workgroup size of every entry point.

override WG: u32 = 64u;

struct Moments { n: f32, mean: f32, m2: f32 }

fn moments_add(s: Moments, v: f32) -> Moments {
  let n = s.n + 1.0;
  let d = v - s.mean;
  let mean = s.mean + d / n;
  return Moments(n, mean, s.m2 + d * (v - mean));
}

fn moments_merge(a: Moments, b: Moments) -> Moments {
  let n = a.n + b.n;
  if (n == 0.0) { return a; }
  let d = b.mean - a.mean;
  let wb = b.n / n;
  return Moments(n, a.mean + d * wb, a.m2 + b.m2 + d * d * a.n * wb);
}

var<workgroup> wg_moments: array<Moments, WG>;
var<workgroup> wg_sums: array<vec2f, WG>;

// Every thread gets the workgroup's merged moments.
fn workgroup_moments(s: Moments, lid: u32) -> Moments {
  wg_moments[lid] = s;
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    workgroupBarrier();
    if (lid < k) { wg_moments[lid] = moments_merge(wg_moments[lid], wg_moments[lid + k]); }
  }
  workgroupBarrier();
  return wg_moments[0];
}

// Every thread gets the workgroup's sum (pairwise: as accurate as the f32 inputs allow).
fn workgroup_sum2(v: vec2f, lid: u32) -> vec2f {
  wg_sums[lid] = v;
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    workgroupBarrier();
    if (lid < k) { wg_sums[lid] += wg_sums[lid + k]; }
  }
  workgroupBarrier();
  return wg_sums[0];
}
