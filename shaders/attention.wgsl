// Memory-efficient multi-head attention, forward (FlashAttention-2 style). Layout as diffusers: q [B, Nq, H*D],
// k and v [B, Nk, H*D], channel = head * D + d. One workgroup per (batch, head, tile of BR query rows) walks
// the keys in tiles of BC with an online softmax, so no Nq x Nk score matrix ever exists in GPU memory; it
// writes the output and the per-row logsumexp (in scaled-score units) that backward needs.
//
// D is cut into nchunks chunks of DT (DP = nchunks * DT >= D), so any head dim fits: the output accumulator
// [BR, DP] lives in workgroup memory, Q/K/V are staged one chunk at a time. With a single chunk (D <= DT)
// the Q tile is staged once and K and V together, which saves barriers.
override WG: u32 = 64;
override BR: u32 = 16;
override BC: u32 = 16;
override DT: u32 = 64;
override DP: u32 = 64;
// Row stride of the staged K and V tiles: one more than DT, so that threads reading different keys at the
// same d hit different memory banks.
override KS: u32 = DT + 1u;

// *_base: where batch 0 of this dispatch starts in each binding (bindings start at aligned offsets).
struct Params {
  nb: u32, nq: u32, nk: u32, heads: u32,
  dim: u32, nchunks: u32, scale: f32, _pad: u32,
  q_base: u32, k_base: u32, v_base: u32, o_base: u32,
  lse_base: u32, _p1: u32, _p2: u32, _p3: u32,
}

@group(0) @binding(0) var<storage, read> q: array<IN_q>;
@group(0) @binding(1) var<storage, read> k: array<IN_k>;
@group(0) @binding(2) var<storage, read> v: array<IN_v>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> qs: array<f32, BR * DT>;
var<workgroup> ks: array<f32, BC * KS>;
var<workgroup> vs: array<f32, BC * KS>;
var<workgroup> sc: array<f32, BR * BC>;
var<workgroup> acc: array<f32, BR * DP>;
var<workgroup> row_m: array<f32, BR>;
var<workgroup> row_l: array<f32, BR>;
var<workgroup> row_a: array<f32, BR>;

// Stages chunk `ch` of rows [row0, row0 + R) of a [n, H*D] matrix (head h) into dst[R * DT], zeros outside.
fn stage_q(lid: u32, b: u32, row0: u32, h: u32, ch: u32) {
  let C = p.heads * p.dim;
  for (var e = lid; e < BR * DT; e += WG) {
    let r = e / DT;
    let d = ch * DT + e % DT;
    var val = 0.0;
    if (row0 + r < p.nq && d < p.dim) { val = ld_q(p.q_base + (b * p.nq + row0 + r) * C + h * p.dim + d); }
    qs[e] = val;
  }
}

fn stage_k(lid: u32, b: u32, key0: u32, h: u32, ch: u32) {
  let C = p.heads * p.dim;
  for (var e = lid; e < BC * DT; e += WG) {
    let c = e / DT;
    let d = ch * DT + e % DT;
    var val = 0.0;
    if (key0 + c < p.nk && d < p.dim) { val = ld_k(p.k_base + (b * p.nk + key0 + c) * C + h * p.dim + d); }
    ks[c * KS + e % DT] = val;
  }
}

fn stage_v(lid: u32, b: u32, key0: u32, h: u32, ch: u32) {
  let C = p.heads * p.dim;
  for (var e = lid; e < BC * DT; e += WG) {
    let c = e / DT;
    let d = ch * DT + e % DT;
    var val = 0.0;
    if (key0 + c < p.nk && d < p.dim) { val = ld_v(p.v_base + (b * p.nk + key0 + c) * C + h * p.dim + d); }
    vs[c * KS + e % DT] = val;
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nqt = (p.nq + BR - 1u) / BR;
  let wg = wid.x + wid.y * nwg.x;
  if (wg >= p.nb * p.heads * nqt) { return; }
  let qt = wg % nqt;
  let h = (wg / nqt) % p.heads;
  let b = wg / (nqt * p.heads);
  let q0 = qt * BR;
  let single = p.nchunks == 1u;

  for (var e = lid; e < BR * DP; e += WG) { acc[e] = 0.0; }
  if (lid < BR) {
    row_m[lid] = 0.0;
    row_l[lid] = 0.0;
  }
  if (single) { stage_q(lid, b, q0, h, 0u); }

  let nkt = (p.nk + BC - 1u) / BC;
  for (var kt = 0u; kt < nkt; kt++) {
    let key0 = kt * BC;
    // Scores S = Q K^T for this key tile, accumulated over the D chunks (each thread owns its entries).
    for (var ch = 0u; ch < p.nchunks; ch++) {
      workgroupBarrier();
      if (!single) { stage_q(lid, b, q0, h, ch); }
      stage_k(lid, b, key0, h, ch);
      if (single) { stage_v(lid, b, key0, h, 0u); }
      workgroupBarrier();
      let dlen = min(DT, p.dim - ch * DT);
      for (var e = lid; e < BR * BC; e += WG) {
        let qo = (e / BC) * DT;
        let ko = (e % BC) * KS;
        var dot = 0.0;
        for (var d = 0u; d < dlen; d++) { dot += qs[qo + d] * ks[ko + d]; }
        sc[e] = select(sc[e], 0.0, ch == 0u) + dot;
      }
    }
    workgroupBarrier();
    // Online softmax, one thread per row: new max, rescale factor for what is accumulated, probabilities.
    // Only the tile's valid keys are read, here and below (no masking by huge negative scores: some
    // drivers' exp(-3e38) is not 0).
    let valid = min(BC, p.nk - key0);
    if (lid < BR) {
      let r = lid;
      var mt = sc[r * BC] * p.scale;
      for (var c = 1u; c < valid; c++) { mt = max(mt, sc[r * BC + c] * p.scale); }
      let first = kt == 0u;
      let m_new = select(max(row_m[r], mt), mt, first);
      let alpha = select(exp(row_m[r] - m_new), 0.0, first);
      var sum = 0.0;
      for (var c = 0u; c < valid; c++) {
        let pr = exp(sc[r * BC + c] * p.scale - m_new);
        sc[r * BC + c] = pr;
        sum += pr;
      }
      row_l[r] = row_l[r] * alpha + sum;
      row_m[r] = m_new;
      row_a[r] = alpha;
    }
    workgroupBarrier();
    // O = alpha * O + P V, chunk by chunk.
    for (var ch = 0u; ch < p.nchunks; ch++) {
      if (!single) {
        if (ch > 0u) { workgroupBarrier(); }
        stage_v(lid, b, key0, h, ch);
        workgroupBarrier();
      }
      for (var e = lid; e < BR * DT; e += WG) {
        let r = e / DT;
        let dd = e % DT;
        var pv = 0.0;
        for (var c = 0u; c < valid; c++) { pv += sc[r * BC + c] * vs[c * KS + dd]; }
        let i = r * DP + ch * DT + dd;
        acc[i] = acc[i] * row_a[r] + pv;
      }
    }
  }
  workgroupBarrier();
  let C = p.heads * p.dim;
  for (var e = lid; e < BR * p.dim; e += WG) {
    let r = e / p.dim;
    let d = e % p.dim;
    if (q0 + r < p.nq) { o[p.o_base + (b * p.nq + q0 + r) * C + h * p.dim + d] = acc[r * DP + d] / row_l[r]; }
  }
  if (lid < BR && q0 + lid < p.nq) {
    lse[p.lse_base + (b * p.heads + h) * p.nq + q0 + lid] = row_m[lid] + log(row_l[lid]);
  }
}
