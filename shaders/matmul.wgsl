// Batched GEMM with strided operands: C[z, m, n] (+)= sum_r sum_k A(z*nRed + r; m, k) * B(z*nRed + r; k, n)
// (+ bias[n]). A(b; m, k) = a[aBase + b*sAb + m*sAm + k*sAk], B alike, so transposes and broadcasts (batch
// stride 0) are only strides; nRed > 1 sums batches into one output (gradients of broadcast operands).
//
// Each workgroup computes a TM x TN tile (TM = 4*WG_Y, TN = 4*WG_X), each thread a 4x4 block of it in
// registers. K advances TK at a time through two workgroup tiles: two barriers per step, so a larger TK
// means fewer barriers (they are slow on SwiftShader).
struct Params {
  M: u32, N: u32, K: u32, nRed: u32,
  aBase: u32, sAb: u32, sAm: u32, sAk: u32,
  bBase: u32, sBb: u32, sBk: u32, sBn: u32,
  cBase: u32, sCb: u32, biasBase: u32, flags: u32, // flags: 1 = accumulate into C, 2 = add bias[n]
}

@group(0) @binding(0) var<storage, read> a: array<IN_a>;
@group(0) @binding(1) var<storage, read> b: array<IN_b>;
@group(0) @binding(2) var<storage, read> bias: array<IN_bias>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG_X: u32 = 8; // threads along N
override WG_Y: u32 = 8; // threads along M
override TK: u32 = 16;

// As[k * WG_Y + i] holds rows 4i..4i+3 of the A tile at depth k; Bs[k * WG_X + j] columns 4j..4j+3 of B.
var<workgroup> As: array<vec4f, TK * WG_Y>;
var<workgroup> Bs: array<vec4f, TK * WG_X>;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let TM = WG_Y * 4u;
  let TN = WG_X * 4u;
  let nt = WG_X * WG_Y;
  let tid = lid.y * WG_X + lid.x;
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;
  let z = wid.z;
  // Load order: walk along the operand's unit stride so neighbouring threads read neighbouring words.
  let aAlongK = p.sAk == 1u;
  let bAlongN = p.sBn == 1u;

  var acc = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var r = 0u; r < p.nRed; r++) {
    let batch = z * p.nRed + r;
    let aOff = p.aBase + batch * p.sAb;
    let bOff = p.bBase + batch * p.sBb;
    for (var k0 = 0u; k0 < p.K; k0 += TK) {
      for (var i = tid; i < TM * TK; i += nt) {
        var mm: u32; var kk: u32;
        if (aAlongK) { mm = i / TK; kk = i % TK; } else { kk = i / TM; mm = i % TM; }
        let m = m0 + mm;
        let k = k0 + kk;
        var v = 0.0;
        if (m < p.M && k < p.K) { v = ld_a(aOff + m * p.sAm + k * p.sAk); }
        As[kk * WG_Y + mm / 4u][mm % 4u] = v;
      }
      for (var i = tid; i < TN * TK; i += nt) {
        var nn: u32; var kk: u32;
        if (bAlongN) { kk = i / TN; nn = i % TN; } else { nn = i / TK; kk = i % TK; }
        let n = n0 + nn;
        let k = k0 + kk;
        var v = 0.0;
        if (n < p.N && k < p.K) { v = ld_b(bOff + k * p.sBk + n * p.sBn); }
        Bs[kk * WG_X + nn / 4u][nn % 4u] = v;
      }
      workgroupBarrier();
      for (var kk = 0u; kk < TK; kk++) {
        let av = As[kk * WG_Y + lid.y];
        let bv = Bs[kk * WG_X + lid.x];
        acc[0] += av.x * bv;
        acc[1] += av.y * bv;
        acc[2] += av.z * bv;
        acc[3] += av.w * bv;
      }
      workgroupBarrier();
    }
  }

  let accumulate = (p.flags & 1u) != 0u;
  let addBias = (p.flags & 2u) != 0u;
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n >= p.N) { break; }
      var v = acc[i][j];
      if (addBias) { v += ld_bias(p.biasBase + n); }
      let o = p.cBase + z * p.sCb + m * p.N + n;
      if (accumulate) { v += c[o]; }
      c[o] = v;
    }
  }
}
