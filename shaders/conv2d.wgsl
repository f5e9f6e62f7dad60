// 2-D convolution (NCHW, square kernel KS, stride STRIDE, zero padding) as an implicit GEMM: the im2col
// matrix is never stored, tiles of it are gathered straight into workgroup memory. One kernel, three GEMMs:
//   forward  y[n, co, p]  = sum_(ci,kh,kw) w[co, ci, kh, kw] * x[n, ci, oh*S + kh - pt, ow*S + kw - pl]
//              M = Cout, K = Cin*KS*KS, N = images * OH*OW         (a = w, b = x, c = y)
//   dgrad    dx[n, ci, p] = sum_(co,kh,kw) w[co, ci, kh, kw] * dy[n, co, (ih + pt - kh)/S, (iw + pl - kw)/S]
//              M = Cin, K = Cout*KS*KS, N = images * H*W           (a = w, b = dy, c = dx; terms off the
//              stride grid or outside dy are zero)
//   wgrad    dw[co, ci, kh, kw] (+)= sum_n sum_p dy[n, co, p] * x[n, ci, oh*S + kh - pt, ow*S + kw - pl]
//              M = Cout, K = OH*OW per image, N = Cin*KS*KS, summed over nRed images (a = dy, b = x, c = dw)
// Split-K (flags & 4): workgroup z sums depth slice [z*kSlice, (z+1)*kSlice) of the nRed*K terms into
// output slice z (a workspace, summed by matmul-sum-slices.wgsl); the wgrad of a big batch needs it.
// Tiles as in matmul.wgsl: TM = 8*WG_Y rows by TN = 8*WG_X columns, 8x8 per thread, depth TK per step.
// Each thread gathers B for four fixed consecutive columns (their index math is done once), so WG_X*WG_Y
// must be a multiple of TN/4, i.e. WG_Y even.
struct Params {
  M: u32, N: u32, K: u32, nRed: u32,
  Cin: u32, H: u32, W: u32, Cout: u32,
  OH: u32, OW: u32, padTop: u32, padLeft: u32,
  aBase: u32, bBase: u32, cBase: u32, biasBase: u32,
  flags: u32, // 1 = accumulate into c, 2 = add bias[m], 4 = split-K
  kSlice: u32,
}

@group(0) @binding(0) var<storage, read> a: array<IN_a>;
@group(0) @binding(1) var<storage, read> b: array<IN_b>;
@group(0) @binding(2) var<storage, read> bias: array<IN_bias>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override KS: u32 = 3;
override STRIDE: u32 = 1;
override WG_X: u32 = 8; // threads along N
override WG_Y: u32 = 8; // threads along M
override TK: u32 = 16;

var<workgroup> As: array<vec4f, TK * WG_Y * 2>;
var<workgroup> Bs: array<vec4f, TK * WG_X * 2>;

// What a thread needs to gather its B column, computed once: a base index and two signed offsets.
struct Column { base: u32, y: i32, x: i32, ok: bool }

fn inside(y: i32, x: i32, h: u32, w: u32) -> bool {
  return y >= 0 && x >= 0 && u32(y) < h && u32(x) < w;
}

// Per GEMM, four functions: column(col), loadA(m, k, kEnd, img), loadB(k, kEnd, col, img) (zero from depth
// kEnd on; img is the summed image of wgrad, else 0) and outIndex(m, col, z) (z: the split-K slice). main
// calls them by their bare names; conv2d.ts renames those calls to one GEMM's set (e.g. loadA -> loadA_fwd),
// so that each pipeline holds only its own gather code.

fn column_fwd(col: u32) -> Column {
  let P = p.OH * p.OW;
  let pix = col % P;
  return Column((col / P) * p.Cin * p.H * p.W, i32((pix / p.OW) * STRIDE) - i32(p.padTop), i32((pix % p.OW) * STRIDE) - i32(p.padLeft), col < p.N);
}

fn loadA_fwd(m: u32, k: u32, kEnd: u32, img: u32) -> f32 {
  if (m >= p.M || k >= kEnd) { return 0.0; }
  return ld_a(p.aBase + m * p.K + k);
}

fn loadB_fwd(k: u32, kEnd: u32, col: Column, img: u32) -> f32 {
  if (!col.ok || k >= kEnd) { return 0.0; }
  let r = k % (KS * KS);
  let y = col.y + i32(r / KS);
  let x = col.x + i32(r % KS);
  if (!inside(y, x, p.H, p.W)) { return 0.0; }
  return ld_b(p.bBase + col.base + ((k / (KS * KS)) * p.H + u32(y)) * p.W + u32(x));
}

fn outIndex_fwd(m: u32, col: u32, z: u32) -> u32 {
  let P = p.OH * p.OW;
  return p.cBase + ((col / P) * p.Cout + m) * P + col % P;
}

fn column_dgrad(col: u32) -> Column {
  let HW = p.H * p.W;
  let pix = col % HW;
  return Column((col / HW) * p.Cout * p.OH * p.OW, i32(pix / p.W + p.padTop), i32(pix % p.W + p.padLeft), col < p.N);
}

fn loadA_dgrad(m: u32, k: u32, kEnd: u32, img: u32) -> f32 {
  if (m >= p.M || k >= kEnd) { return 0.0; }
  return ld_a(p.aBase + ((k / (KS * KS)) * p.Cin + m) * KS * KS + k % (KS * KS));
}

fn loadB_dgrad(k: u32, kEnd: u32, col: Column, img: u32) -> f32 {
  if (!col.ok || k >= kEnd) { return 0.0; }
  let r = k % (KS * KS);
  let ty = col.y - i32(r / KS);
  let tx = col.x - i32(r % KS);
  if (ty < 0 || tx < 0) { return 0.0; }
  let uy = u32(ty);
  let ux = u32(tx);
  if (uy % STRIDE != 0u || ux % STRIDE != 0u) { return 0.0; }
  let oy = uy / STRIDE;
  let ox = ux / STRIDE;
  if (oy >= p.OH || ox >= p.OW) { return 0.0; }
  return ld_b(p.bBase + col.base + ((k / (KS * KS)) * p.OH + oy) * p.OW + ox);
}

fn outIndex_dgrad(m: u32, col: u32, z: u32) -> u32 {
  let HW = p.H * p.W;
  return p.cBase + ((col / HW) * p.Cin + m) * HW + col % HW;
}

fn column_wgrad(col: u32) -> Column {
  let r = col % (KS * KS);
  return Column((col / (KS * KS)) * p.H * p.W, i32(r / KS) - i32(p.padTop), i32(r % KS) - i32(p.padLeft), col < p.N);
}

fn loadA_wgrad(m: u32, k: u32, kEnd: u32, img: u32) -> f32 {
  if (m >= p.M || k >= kEnd) { return 0.0; }
  return ld_a(p.aBase + (img * p.Cout + m) * p.OH * p.OW + k);
}

fn loadB_wgrad(k: u32, kEnd: u32, col: Column, img: u32) -> f32 {
  if (!col.ok || k >= kEnd) { return 0.0; }
  let y = i32((k / p.OW) * STRIDE) + col.y;
  let x = i32((k % p.OW) * STRIDE) + col.x;
  if (!inside(y, x, p.H, p.W)) { return 0.0; }
  return ld_b(p.bBase + img * p.Cin * p.H * p.W + col.base + u32(y) * p.W + u32(x));
}

fn outIndex_wgrad(m: u32, col: u32, z: u32) -> u32 {
  return p.cBase + (z * p.M + m) * p.N + col;
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let TM4 = WG_Y * 2u; // the tile in vec4s
  let TN4 = WG_X * 2u;
  let nt = WG_X * WG_Y;
  let tid = lid.y * WG_X + lid.x;
  let m0 = wid.y * TM4 * 4u;
  let n0 = wid.x * TN4 * 4u;
  // This thread gathers B columns n0 + 4*myCol4 .. +3.
  let myCol4 = tid % TN4;
  let cn = n0 + myCol4 * 4u;
  let c0 = column(cn);
  let c1 = column(cn + 1u);
  let c2 = column(cn + 2u);
  let c3 = column(cn + 3u);

  var acc: array<vec4f, 16>; // acc[2*i + h]: row i of the thread's block, columns half h
  // The depth runs over (image, pixel) for wgrad, over K alone otherwise (nRed = 1).
  let total = p.nRed * p.K;
  let sliced = (p.flags & 4u) != 0u;
  let dBegin = select(0u, wid.z * p.kSlice, sliced);
  let dEnd = select(total, min(total, dBegin + p.kSlice), sliced);
  for (var img = dBegin / p.K; img * p.K < dEnd; img++) {
    let kBegin = max(dBegin, img * p.K) - img * p.K;
    let kEnd = min(dEnd - img * p.K, p.K);
    for (var k0 = kBegin; k0 < kEnd; k0 += TK) {
      for (var i = tid; i < TM4 * TK; i += nt) {
        let m = m0 + (i / TK) * 4u;
        let k = k0 + i % TK;
        As[(i % TK) * TM4 + i / TK] = vec4f(loadA(m, k, kEnd, img), loadA(m + 1u, k, kEnd, img), loadA(m + 2u, k, kEnd, img), loadA(m + 3u, k, kEnd, img));
      }
      for (var kk = tid / TN4; kk < TK; kk += nt / TN4) {
        let k = k0 + kk;
        Bs[kk * TN4 + myCol4] = vec4f(loadB(k, kEnd, c0, img), loadB(k, kEnd, c1, img), loadB(k, kEnd, c2, img), loadB(k, kEnd, c3, img));
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
  let z = select(0u, wid.z, sliced);
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
    if ((p.flags & 2u) != 0u) { v += ld_bias(p.biasBase + m); }
    let o = outIndex(m, col, z);
    if ((p.flags & 1u) != 0u) { v += c[o]; }
    c[o] = v;
  }
}
