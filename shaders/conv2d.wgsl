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
// Tiles as in matmul.wgsl: TM = 4*WG_Y rows by TN = 4*WG_X columns, 4x4 per thread, depth TK per step.
// Each thread gathers B for one fixed column (its index math is done once), so WG_X*WG_Y must be a
// multiple of TN, i.e. WG_Y a multiple of 4.
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

var<workgroup> As: array<vec4f, TK * WG_Y>;
var<workgroup> Bs: array<vec4f, TK * WG_X>;

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
  let TM = WG_Y * 4u;
  let TN = WG_X * 4u;
  let nt = WG_X * WG_Y;
  let tid = lid.y * WG_X + lid.x;
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;
  let myCol = tid % TN;
  let col = column(n0 + myCol);

  var acc = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var img = 0u; img < p.nRed; img++) {
    for (var k0 = 0u; k0 < p.K; k0 += TK) {
      for (var i = tid; i < TM * TK; i += nt) {
        let mm = i / TK;
        let kk = i % TK;
        As[kk * WG_Y + mm / 4u][mm % 4u] = loadA(m0 + mm, k0 + kk, img);
      }
      for (var kk = tid / TN; kk < TK; kk += nt / TN) {
        Bs[kk * WG_X + myCol / 4u][myCol % 4u] = loadB(k0 + kk, col, img);
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
      if (addBias) { v += ld_bias(p.biasBase + m); }
      let o = outIndex(m, n);
      if (accumulate) { v += c[o]; }
      c[o] = v;
    }
  }
}
