// Memory-efficient attention, backward (FlashAttention-2): scores are recomputed tile by tile from Q, K and
// the saved logsumexp, never stored whole. Three kernels, no atomics (deterministic):
//   row_dot: Dvec[b, h, i] = sum_d dO[b, i, h*D + d] * O[b, i, h*D + d]
//   dq:      one workgroup per (b, h, tile of BR query rows), walking key tiles of BC:
//            P = exp(S * scale - lse), dS = P * (dO V^T - Dvec), dQ += scale * dS K
//   dkdv:    one workgroup per (b, h, tile of BC keys), walking query tiles of BR:
//            dV += P^T dO, dK += scale * dS^T Q
// As in the forward, D is cut into nchunks chunks of DT and accumulators [*, DP] live in workgroup memory;
// with one chunk the tiles that stay put are staged once.
override WG: u32 = 64;
override BR: u32 = 16;
override BC: u32 = 16;
override DT: u32 = 64;
override DP: u32 = 64;
// Row stride of the staged K and V tiles: one more than DT, so that threads reading different keys at the
// same d hit different memory banks.
override KS: u32 = DT + 1u;

struct Params {
  nb: u32, nq: u32, nk: u32, heads: u32,
  dim: u32, nchunks: u32, scale: f32, _pad: u32,
  q_base: u32, k_base: u32, v_base: u32, do_base: u32,
  o_base: u32, lse_base: u32, dvec_base: u32, out_base: u32,
  out2_base: u32, _p1: u32, _p2: u32, _p3: u32,
}

@group(0) @binding(0) var<storage, read> q: array<IN_q>;
@group(0) @binding(1) var<storage, read> k: array<IN_k>;
@group(0) @binding(2) var<storage, read> v: array<IN_v>;
@group(0) @binding(3) var<storage, read> gout: array<IN_gout>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dvec: array<f32>;
// dq: binding 6 is dQ. dkdv: 6 is dK, 7 is dV.
@group(0) @binding(6) var<storage, read_write> grad_a: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;
@group(0) @binding(7) var<storage, read_write> grad_b: array<f32>;
@group(0) @binding(8) var<uniform> p2: Params;

// row_dot: dO at 0, O at 1, Dvec out at 2.
@group(0) @binding(0) var<storage, read> rg: array<IN_rg>;
@group(0) @binding(1) var<storage, read> ro: array<IN_ro>;
@group(0) @binding(2) var<storage, read_write> rd_out: array<f32>;
@group(0) @binding(3) var<uniform> rp: Params;

var<workgroup> qs: array<f32, BR * DT>;
var<workgroup> dos: array<f32, BR * DT>;
var<workgroup> ks: array<f32, BC * KS>;
var<workgroup> vs: array<f32, BC * KS>;
var<workgroup> s_p: array<f32, BR * BC>;
var<workgroup> s_ds: array<f32, BR * BC>;
var<workgroup> acc_a: array<f32, BR * DP>;
var<workgroup> acc_b: array<f32, BC * DP>;
var<workgroup> acc_c: array<f32, BC * DP>;
var<workgroup> row_lse: array<f32, BR>;
var<workgroup> row_d: array<f32, BR>;

@compute @workgroup_size(WG)
fn row_dot(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // One thread per (b, h, i), laid out like lse: [nb, H, Nq].
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= rp.nb * rp.heads * rp.nq) { return; }
  let i = t % rp.nq;
  let h = (t / rp.nq) % rp.heads;
  let b = t / (rp.nq * rp.heads);
  let row = (b * rp.nq + i) * rp.heads * rp.dim + h * rp.dim;
  var acc = 0.0;
  for (var d = 0u; d < rp.dim; d++) { acc += ld_rg(rp.do_base + row + d) * ld_ro(rp.o_base + row + d); }
  rd_out[rp.out_base + t] = acc;
}

// Index of (batch b, row, head h, d) in a [nb, n, H*D] matrix.
fn chunk_index(b: u32, n: u32, row: u32, h: u32, d: u32, P: Params) -> u32 {
  return (b * n + row) * P.heads * P.dim + h * P.dim + d;
}

// Stages chunk ch of query rows [row0, row0 + BR) of Q and dO (head h), zeros outside.
fn stage_q_do(lid: u32, b: u32, row0: u32, h: u32, ch: u32, P: Params) {
  for (var e = lid; e < BR * DT; e += WG) {
    let r = e / DT;
    let d = ch * DT + e % DT;
    var qv = 0.0;
    var dv = 0.0;
    if (row0 + r < P.nq && d < P.dim) {
      let i = chunk_index(b, P.nq, row0 + r, h, d, P);
      qv = ld_q(P.q_base + i);
      dv = ld_gout(P.do_base + i);
    }
    qs[e] = qv;
    dos[e] = dv;
  }
}

// Stages chunk ch of keys [key0, key0 + BC) of K (and V), zeros outside.
fn stage_k_v(lid: u32, b: u32, key0: u32, h: u32, ch: u32, P: Params, with_v: bool) {
  for (var e = lid; e < BC * DT; e += WG) {
    let c = e / DT;
    let d = ch * DT + e % DT;
    var kv = 0.0;
    var vv = 0.0;
    if (key0 + c < P.nk && d < P.dim) {
      let i = chunk_index(b, P.nk, key0 + c, h, d, P);
      kv = ld_k(P.k_base + i);
      if (with_v) { vv = ld_v(P.v_base + i); }
    }
    ks[c * KS + e % DT] = kv;
    if (with_v) { vs[c * KS + e % DT] = vv; }
  }
}

// Accumulates S (into s_p) and dP = dO V^T (into s_ds) for the staged chunk (dlen valid columns);
// thread-owned entries.
fn accumulate_scores(lid: u32, first: bool, dlen: u32) {
  for (var e = lid; e < BR * BC; e += WG) {
    let qo = (e / BC) * DT;
    let ko = (e % BC) * KS;
    var s = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < dlen; d++) {
      s += qs[qo + d] * ks[ko + d];
      dp += dos[qo + d] * vs[ko + d];
    }
    s_p[e] = select(s_p[e], 0.0, first) + s;
    s_ds[e] = select(s_ds[e], 0.0, first) + dp;
  }
}

// P and dS from the accumulated S and dP, same ownership as accumulate_scores. Entries outside the valid
// rows/keys get P = dS = 0 explicitly.
fn probabilities(lid: u32, q0: u32, key0: u32, P: Params) {
  for (var e = lid; e < BR * BC; e += WG) {
    let r = e / BC;
    let valid = q0 + r < P.nq && key0 + e % BC < P.nk;
    let pr = select(0.0, exp(s_p[e] * P.scale - row_lse[r]), valid);
    s_p[e] = pr;
    s_ds[e] = pr * (s_ds[e] - row_d[r]);
  }
}

fn load_rows(lid: u32, b: u32, h: u32, q0: u32, P: Params) {
  if (lid < BR) {
    let ok = q0 + lid < P.nq;
    let i = (b * P.heads + h) * P.nq + q0 + lid;
    row_lse[lid] = select(0.0, lse[P.lse_base + i], ok);
    row_d[lid] = select(0.0, dvec[P.dvec_base + i], ok);
  }
}

@compute @workgroup_size(WG)
fn dq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let P = p;
  let nqt = (P.nq + BR - 1u) / BR;
  let wg = wid.x + wid.y * nwg.x;
  if (wg >= P.nb * P.heads * nqt) { return; }
  let qt = wg % nqt;
  let h = (wg / nqt) % P.heads;
  let b = wg / (nqt * P.heads);
  let q0 = qt * BR;
  let single = P.nchunks == 1u;

  for (var e = lid; e < BR * DP; e += WG) { acc_a[e] = 0.0; }
  load_rows(lid, b, h, q0, P);
  if (single) { stage_q_do(lid, b, q0, h, 0u, P); }

  let nkt = (P.nk + BC - 1u) / BC;
  for (var kt = 0u; kt < nkt; kt++) {
    let key0 = kt * BC;
    let kvalid = min(BC, P.nk - key0);
    for (var ch = 0u; ch < P.nchunks; ch++) {
      workgroupBarrier();
      if (!single) { stage_q_do(lid, b, q0, h, ch, P); }
      stage_k_v(lid, b, key0, h, ch, P, true);
      workgroupBarrier();
      accumulate_scores(lid, ch == 0u, min(DT, P.dim - ch * DT));
    }
    probabilities(lid, q0, key0, P);
    workgroupBarrier();
    // dQ += scale * dS K, chunk by chunk (with one chunk, K is still staged).
    for (var ch = 0u; ch < P.nchunks; ch++) {
      if (!single) {
        if (ch > 0u) { workgroupBarrier(); }
        stage_k_v(lid, b, key0, h, ch, P, false);
        workgroupBarrier();
      }
      for (var e = lid; e < BR * DT; e += WG) {
        let r = e / DT;
        let dd = e % DT;
        var g = 0.0;
        for (var c = 0u; c < kvalid; c++) { g += s_ds[r * BC + c] * ks[c * KS + dd]; }
        acc_a[r * DP + ch * DT + dd] += g * P.scale;
      }
    }
  }
  workgroupBarrier();
  for (var e = lid; e < BR * P.dim; e += WG) {
    let r = e / P.dim;
    let d = e % P.dim;
    if (q0 + r < P.nq) { grad_a[P.out_base + chunk_index(b, P.nq, q0 + r, h, d, P)] = acc_a[r * DP + d]; }
  }
}

@compute @workgroup_size(WG)
fn dkdv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let P = p2;
  let nkt = (P.nk + BC - 1u) / BC;
  let wg = wid.x + wid.y * nwg.x;
  if (wg >= P.nb * P.heads * nkt) { return; }
  let kt = wg % nkt;
  let h = (wg / nkt) % P.heads;
  let b = wg / (nkt * P.heads);
  let key0 = kt * BC;
  let single = P.nchunks == 1u;

  for (var e = lid; e < BC * DP; e += WG) {
    acc_b[e] = 0.0;
    acc_c[e] = 0.0;
  }
  if (single) { stage_k_v(lid, b, key0, h, 0u, P, true); }

  let nqt = (P.nq + BR - 1u) / BR;
  for (var qt = 0u; qt < nqt; qt++) {
    let q0 = qt * BR;
    let qvalid = min(BR, P.nq - q0);
    for (var ch = 0u; ch < P.nchunks; ch++) {
      workgroupBarrier();
      if (ch == 0u) { load_rows(lid, b, h, q0, P); }
      stage_q_do(lid, b, q0, h, ch, P);
      if (!single) { stage_k_v(lid, b, key0, h, ch, P, true); }
      workgroupBarrier();
      accumulate_scores(lid, ch == 0u, min(DT, P.dim - ch * DT));
    }
    probabilities(lid, q0, key0, P);
    workgroupBarrier();
    // dV += P^T dO and dK += scale * dS^T Q, chunk by chunk (with one chunk, Q and dO are still staged).
    for (var ch = 0u; ch < P.nchunks; ch++) {
      if (!single) {
        if (ch > 0u) { workgroupBarrier(); }
        stage_q_do(lid, b, q0, h, ch, P);
        workgroupBarrier();
      }
      for (var e = lid; e < BC * DT; e += WG) {
        let c = e / DT;
        let dd = e % DT;
        var gv = 0.0;
        var gk = 0.0;
        for (var r = 0u; r < qvalid; r++) {
          gv += s_p[r * BC + c] * dos[r * DT + dd];
          gk += s_ds[r * BC + c] * qs[r * DT + dd];
        }
        let i = c * DP + ch * DT + dd;
        acc_b[i] += gk * P.scale;
        acc_c[i] += gv;
      }
    }
  }
  workgroupBarrier();
  for (var e = lid; e < BC * P.dim; e += WG) {
    let c = e / P.dim;
    let d = e % P.dim;
    if (key0 + c < P.nk) {
      let i = chunk_index(b, P.nk, key0 + c, h, d, P);
      grad_a[P.out_base + i] = acc_b[c * DP + d];
      grad_b[P.out2_base + i] = acc_c[c * DP + d];
    }
  }
}
