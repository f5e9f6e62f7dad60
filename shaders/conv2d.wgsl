// 2-D convolution (NCHW, square kernel KS, stride STRIDE, zero padding) as an implicit GEMM: the im2col
// matrix is never stored, tiles of it are gathered straight into workgroup memory. One kernel, three GEMMs
// (MODE, a pipeline constant):
//   0 forward  y[n, co, p]  = sum_(ci,kh,kw) w[co, ci, kh, kw] * x[n, ci, oh*S + kh - pt, ow*S + kw - pl]
//              M = Cout, K = Cin*KS*KS, N = images * OH*OW         (a = w, b = x, c = y)
//   1 dgrad    dx[n, ci, p] = sum_(co,kh,kw) w[co, ci, kh, kw] * dy[n, co, (ih + pt - kh)/S, (iw + pl - kw)/S]
//              M = Cin, K = Cout*KS*KS, N = images * H*W           (a = w, b = dy, c = dx; terms off the
//              stride grid or outside dy are zero)
//   2 wgrad    dw[co, ci, kh, kw] (+)= sum_n sum_p dy[n, co, p] * x[n, ci, oh*S + kh - pt, ow*S + kw - pl]
//              M = Cout, K = OH*OW per image, N = Cin*KS*KS, summed over nRed images (a = dy, b = x, c = dw)
// Tiles as in matmul.wgsl: TM = 8*WG_Y rows by TN = 8*WG_X columns, 8x8 per thread, depth TK per step.
// Each thread gathers B for four fixed consecutive columns (their index math is done once), so WG_X*WG_Y
// must be a multiple of TN/4, i.e. WG_Y even.
struct Params {
  M: u32, N: u32, K: u32, nRed: u32,
  Cin: u32, H: u32, W: u32, Cout: u32,
  OH: u32, OW: u32, padTop: u32, padLeft: u32,
  aBase: u32, bBase: u32, cBase: u32, biasBase: u32,
  flags: u32, // 1 = accumulate into c, 2 = add bias[m]
}

@group(0) @binding(0) var<storage, read> a: array<IN_a>;
@group(0) @binding(1) var<storage, read> b: array<IN_b>;
@group(0) @binding(2) var<storage, read> bias: array<IN_bias>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override MODE: u32 = 0;
override KS: u32 = 3;
override STRIDE: u32 = 1;
override WG_X: u32 = 8; // threads along N
override WG_Y: u32 = 8; // threads along M
override TK: u32 = 16;

var<workgroup> As: array<vec4f, TK * WG_Y * 2>;
var<workgroup> Bs: array<vec4f, TK * WG_X * 2>;

// What a thread needs to gather its B column, computed once: a base index and two signed offsets.
struct Column { base: u32, y: i32, x: i32, ok: bool }

fn column(col: u32) -> Column {
  let ok = col < p.N;
  if (MODE == 0u) {
    let P = p.OH * p.OW;
    let n = col / P;
    let pix = col % P;
    return Column(n * p.Cin * p.H * p.W, i32((pix / p.OW) * STRIDE) - i32(p.padTop), i32((pix % p.OW) * STRIDE) - i32(p.padLeft), ok);
  }
  if (MODE == 1u) {
    let HW = p.H * p.W;
    let n = col / HW;
    let pix = col % HW;
    return Column(n * p.Cout * p.OH * p.OW, i32(pix / p.W + p.padTop), i32(pix % p.W + p.padLeft), ok);
  }
  let ci = col / (KS * KS);
  let r = col % (KS * KS);
  return Column(ci * p.H * p.W, i32(r / KS) - i32(p.padTop), i32(r % KS) - i32(p.padLeft), ok);
}

fn inside(y: i32, x: i32, h: u32, w: u32) -> bool {
  return y >= 0 && x >= 0 && u32(y) < h && u32(x) < w;
}

// B(k, col) for this thread's column; `img` is the summed image (wgrad) or 0.
fn loadB(k: u32, col: Column, img: u32) -> f32 {
  if (!col.ok || k >= p.K) { return 0.0; }
  if (MODE == 0u) {
    let ci = k / (KS * KS);
    let r = k % (KS * KS);
    let y = col.y + i32(r / KS);
    let x = col.x + i32(r % KS);
    if (!inside(y, x, p.H, p.W)) { return 0.0; }
    return ld_b(p.bBase + col.base + (ci * p.H + u32(y)) * p.W + u32(x));
  }
  if (MODE == 1u) {
    let co = k / (KS * KS);
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
    return ld_b(p.bBase + col.base + (co * p.OH + oy) * p.OW + ox);
  }
  let y = i32((k / p.OW) * STRIDE) + col.y;
  let x = i32((k % p.OW) * STRIDE) + col.x;
  if (!inside(y, x, p.H, p.W)) { return 0.0; }
  return ld_b(p.bBase + img * p.Cin * p.H * p.W + col.base + u32(y) * p.W + u32(x));
}

fn loadA(m: u32, k: u32, img: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (MODE == 0u) { return ld_a(p.aBase + m * p.K + k); }
  if (MODE == 1u) { return ld_a(p.aBase + ((k / (KS * KS)) * p.Cin + m) * KS * KS + k % (KS * KS)); }
  return ld_a(p.aBase + (img * p.Cout + m) * p.OH * p.OW + k);
}

// Where output element (m, col) goes.
fn outIndex(m: u32, col: u32) -> u32 {
  if (MODE == 0u) {
    let P = p.OH * p.OW;
    return p.cBase + ((col / P) * p.Cout + m) * P + col % P;
  }
  if (MODE == 1u) {
    let HW = p.H * p.W;
    return p.cBase + ((col / HW) * p.Cin + m) * HW + col % HW;
  }
  return p.cBase + m * p.N + col;
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
  for (var img = 0u; img < p.nRed; img++) {
    for (var k0 = 0u; k0 < p.K; k0 += TK) {
      for (var i = tid; i < TM4 * TK; i += nt) {
        let m = m0 + (i / TK) * 4u;
        let k = k0 + i % TK;
        As[(i % TK) * TM4 + i / TK] = vec4f(loadA(m, k, img), loadA(m + 1u, k, img), loadA(m + 2u, k, img), loadA(m + 3u, k, img));
      }
      for (var kk = tid / TN4; kk < TK; kk += nt / TN4) {
        let k = k0 + kk;
        Bs[kk * TN4 + myCol4] = vec4f(loadB(k, c0, img), loadB(k, c1, img), loadB(k, c2, img), loadB(k, c3, img));
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
  storeRow(m, n, nh, acc[0], acc[1]);
  storeRow(m + 1u, n, nh, acc[2], acc[3]);
  storeRow(m + 2u, n, nh, acc[4], acc[5]);
  storeRow(m + 3u, n, nh, acc[6], acc[7]);
  storeRow(mh, n, nh, acc[8], acc[9]);
  storeRow(mh + 1u, n, nh, acc[10], acc[11]);
  storeRow(mh + 2u, n, nh, acc[12], acc[13]);
  storeRow(mh + 3u, n, nh, acc[14], acc[15]);
}

// Row m of the thread's block: 4 columns from n and 4 from nh, with bias and accumulation, inside the matrix.
fn storeRow(m: u32, n: u32, nh: u32, lo: vec4f, hi: vec4f) {
  if (m >= p.M) { return; }
  let vals = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
  for (var j = 0u; j < 8u; j++) {
    let col = select(n + j, nh + j - 4u, j >= 4u);
    if (col >= p.N) { continue; }
    var v = vals[j];
    if ((p.flags & 2u) != 0u) { v += ld_bias(p.biasBase + m); }
    let o = outIndex(m, col);
    if ((p.flags & 1u) != 0u) { v += c[o]; }
    c[o] = v;
  }
}
