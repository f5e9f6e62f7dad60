// Batched GEMM with strided operands: C[z, m, n] (+)= sum_r sum_k A(z*nRed + r; m, k) * B(z*nRed + r; k, n)
// (+ bias[n]). A(b; m, k) = a[aBase + b*sAb + m*sAm + k*sAk], B alike, so transposes and broadcasts (batch
// stride 0) are only strides; nRed > 1 sums batches into one output (gradients of broadcast operands).
//
// A workgroup computes a TM x TN tile (TM = 8*WG_Y, TN = 8*WG_X); each thread an 8x8 block in registers:
// rows 4*ty..4*ty+3 and TM/2 + 4*ty.., columns likewise, so that neighbouring threads read neighbouring
// vec4s of the workgroup tiles. K advances TK at a time: two barriers per step.
// Split-K (flags & 4, one output batch): workgroup z sums depth slice [z*kSlice, (z+1)*kSlice) of the
// nRed*K terms (summed batch, k) into output slice z (a workspace, summed by matmul-sum-slices.wgsl).
struct Params {
  M: u32, N: u32, K: u32, nRed: u32,
  aBase: u32, sAb: u32, sAm: u32, sAk: u32,
  bBase: u32, sBb: u32, sBk: u32, sBn: u32,
  cBase: u32, sCb: u32, biasBase: u32, flags: u32, // flags: 1 = accumulate into C, 2 = add bias[n], 4 = split-K
  kSlice: u32,
}

@group(0) @binding(0) var<storage, read> a: array<IN_a>;
@group(0) @binding(1) var<storage, read> b: array<IN_b>;
@group(0) @binding(2) var<storage, read> bias: array<IN_bias>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG_X: u32 = 8; // threads along N
override WG_Y: u32 = 8; // threads along M
override TK: u32 = 16;
// Tile loads walk along an operand's unit stride, so neighbouring threads read neighbouring words: along K
// for a row-major A (along M when transposed), along N for a row-major B. Pipeline constants, not branches.
override A_ALONG_K: bool = true;
override B_ALONG_N: bool = true;

// As[k * 2*WG_Y + i]: rows 4i..4i+3 of the A tile at depth k (vec4s are written whole: a dynamic component
// write is slow on SwiftShader). Bs alike for columns of B.
var<workgroup> As: array<vec4f, TK * WG_Y * 2>;
var<workgroup> Bs: array<vec4f, TK * WG_X * 2>;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let TM4 = WG_Y * 2u; // the tile in vec4s
  let TN4 = WG_X * 2u;
  let nt = WG_X * WG_Y;
  let tid = lid.y * WG_X + lid.x;
  let m0 = wid.y * TM4 * 4u;
  let n0 = wid.x * TN4 * 4u;
  let z = wid.z;
  let sliced = (p.flags & 4u) != 0u;
  let batchZ = select(z, 0u, sliced);
  let total = p.nRed * p.K;
  let dBegin = select(0u, z * p.kSlice, sliced);
  let dEnd = select(total, min(total, dBegin + p.kSlice), sliced);

  var acc: array<vec4f, 16>; // acc[2*i + h]: row i of the thread's block, columns half h
  for (var r = dBegin / p.K; r * p.K < dEnd; r++) {
    let batch = batchZ * p.nRed + r;
    let aOff = p.aBase + batch * p.sAb;
    let bOff = p.bBase + batch * p.sBb;
    let kBegin = max(dBegin, r * p.K) - r * p.K;
    let kEnd = min(dEnd - r * p.K, p.K);
    for (var k0 = kBegin; k0 < kEnd; k0 += TK) {
      for (var i = tid; i < TM4 * TK; i += nt) {
        var m4: u32; var kk: u32;
        if (A_ALONG_K) { m4 = i / TK; kk = i % TK; } else { kk = i / TM4; m4 = i % TM4; }
        let k = k0 + kk;
        let m = m0 + m4 * 4u;
        var v = vec4f(0.0);
        if (k < kEnd) {
          let at = aOff + m * p.sAm + k * p.sAk;
          if (m < p.M) { v.x = ld_a(at); }
          if (m + 1u < p.M) { v.y = ld_a(at + p.sAm); }
          if (m + 2u < p.M) { v.z = ld_a(at + 2u * p.sAm); }
          if (m + 3u < p.M) { v.w = ld_a(at + 3u * p.sAm); }
        }
        As[kk * TM4 + m4] = v;
      }
      for (var i = tid; i < TN4 * TK; i += nt) {
        var n4: u32; var kk: u32;
        if (B_ALONG_N) { kk = i / TN4; n4 = i % TN4; } else { n4 = i / TK; kk = i % TK; }
        let k = k0 + kk;
        let n = n0 + n4 * 4u;
        var v = vec4f(0.0);
        if (k < kEnd) {
          let at = bOff + k * p.sBk + n * p.sBn;
          if (n < p.N) { v.x = ld_b(at); }
          if (n + 1u < p.N) { v.y = ld_b(at + p.sBn); }
          if (n + 2u < p.N) { v.z = ld_b(at + 2u * p.sBn); }
          if (n + 3u < p.N) { v.w = ld_b(at + 3u * p.sBn); }
        }
        Bs[kk * TN4 + n4] = v;
      }
      workgroupBarrier();
      for (var kk = 0u; kk < TK; kk++) {
        let a0 = As[kk * TM4 + lid.y];
        let a1 = As[kk * TM4 + WG_Y + lid.y];
        let b0 = Bs[kk * TN4 + lid.x];
        let b1 = Bs[kk * TN4 + WG_X + lid.x];
        acc[0] += a0.x * b0; acc[1] += a0.x * b1;
        acc[2] += a0.y * b0; acc[3] += a0.y * b1;
        acc[4] += a0.z * b0; acc[5] += a0.z * b1;
        acc[6] += a0.w * b0; acc[7] += a0.w * b1;
        acc[8] += a1.x * b0; acc[9] += a1.x * b1;
        acc[10] += a1.y * b0; acc[11] += a1.y * b1;
        acc[12] += a1.z * b0; acc[13] += a1.z * b1;
        acc[14] += a1.w * b0; acc[15] += a1.w * b1;
      }
      workgroupBarrier();
    }
  }

  // Constant indices into acc only: a dynamic index would keep it in memory rather than registers.
  let m = m0 + lid.y * 4u;
  let mh = m + WG_Y * 4u;
  let n = n0 + lid.x * 4u;
  let nh = n + WG_X * 4u;
  storeRow(z, m, n, nh, acc[0], acc[1]);
  storeRow(z, m + 1u, n, nh, acc[2], acc[3]);
  storeRow(z, m + 2u, n, nh, acc[4], acc[5]);
  storeRow(z, m + 3u, n, nh, acc[6], acc[7]);
  storeRow(z, mh, n, nh, acc[8], acc[9]);
  storeRow(z, mh + 1u, n, nh, acc[10], acc[11]);
  storeRow(z, mh + 2u, n, nh, acc[12], acc[13]);
  storeRow(z, mh + 3u, n, nh, acc[14], acc[15]);
}

// Row m of the thread's block: 4 columns from n and 4 from nh, with bias and accumulation, inside the matrix.
fn storeRow(z: u32, m: u32, n: u32, nh: u32, lo: vec4f, hi: vec4f) {
  if (m >= p.M) { return; }
  let vals = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
  for (var j = 0u; j < 8u; j++) {
    let col = select(n + j, nh + j - 4u, j >= 4u);
    if (col >= p.N) { continue; }
    var v = vals[j];
    if ((p.flags & 2u) != 0u) { v += ld_bias(p.biasBase + col); }
    let o = p.cBase + z * p.sCb + m * p.N + col;
    if ((p.flags & 1u) != 0u) { v += c[o]; }
    c[o] = v;
  }
}
