import attentionWgsl from '../../../shaders/attention.wgsl?raw';
import attentionBackwardWgsl from '../../../shaders/attention-backward.wgsl?raw';
import type { DeviceLimits } from '../../gpu/device.ts';
import type { GpuRuntime } from '../../gpu/runtime.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';
import { elementSlice, rowChunks } from './reduce.ts';

/**
 * Multi-head attention without an Nq x Nk score matrix (FlashAttention-2 forward and backward; see
 * shaders/attention*.wgsl). q [B, Nq, H*D], k and v [B, Nk, H*D] with heads laid out as diffusers does
 * (channel = head * D + d) -> [B, Nq, H*D]. Saves only the output and the per-row logsumexp [B, H, Nq];
 * memory grows linearly with the sequence lengths, forward and backward.
 */
export interface AttentionOptions {
  /** Multiplies q k^T; default 1 / sqrt(D). */
  scale?: number;
}

export interface AttentionTiles {
  /** Threads per workgroup. */
  wg: number;
  /** Query rows per tile, keys per tile. */
  br: number;
  bc: number;
  /** Head-dim chunk width, chunk count, accumulator width (nchunks * dt >= D). */
  dt: number;
  nchunks: number;
  dp: number;
}

export type AttentionKernel = 'forward' | 'dq' | 'dkdv';

const pow2AtMost = (n: number, cap: number) => Math.min(cap, 2 ** Math.ceil(Math.log2(Math.max(1, n))));

/** Workgroup memory (bytes) a kernel's tiles take; mirrors the var<workgroup> declarations. */
export function attentionWorkgroupBytes(kernel: AttentionKernel, t: Omit<AttentionTiles, 'wg'>): number {
  const { br, bc, dt, dp } = t;
  const kv = 2 * bc * (dt + 1); // K and V tiles, rows padded by one against bank conflicts
  const floats =
    kernel === 'forward'
      ? br * dt + kv + br * bc + br * dp + 3 * br
      : kernel === 'dq'
        ? 2 * br * dt + kv + 2 * br * bc + br * dp + 2 * br
        : 2 * br * dt + kv + 2 * br * bc + 2 * bc * dp + 2 * br;
  return floats * 4;
}

/**
 * Tiles from the adapter's limits: D in chunks of at most 64; the tile whose rows own accumulators [*, DP]
 * (query rows for forward and dq, keys for dkdv) as large as maxComputeWorkgroupStorageSize allows, up to
 * 32; the walked tile 16 (both no larger than the sequence needs).
 */
export function attentionTiles(limits: DeviceLimits, kernel: AttentionKernel, D: number, nq: number, nk: number): AttentionTiles {
  const nchunks = Math.ceil(D / 64);
  const dt = Math.ceil(D / nchunks);
  const dp = nchunks * dt;
  const wg = Math.min(64, limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  const fits = (br: number, bc: number) => attentionWorkgroupBytes(kernel, { br, bc, dt, dp, nchunks }) <= limits.maxComputeWorkgroupStorageSize;
  const ownsKeys = kernel === 'dkdv';
  const walked = pow2AtMost(ownsKeys ? nq : nk, 16);
  for (let own = pow2AtMost(ownsKeys ? nk : nq, Math.min(32, wg)); own >= 1; own /= 2) {
    for (let w = walked; w >= Math.min(walked, 4); w /= 2) {
      const [br, bc] = ownsKeys ? [w, own] : [own, w];
      if (fits(br, bc)) return { wg, br, bc, dt, dp, nchunks };
    }
  }
  throw new RangeError(`attention: head dim ${D} needs more than the ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory this adapter has`);
}

interface Dims {
  B: number;
  nq: number;
  nk: number;
  H: number;
  D: number;
  C: number;
  scale: number;
}

function dimsOf(q: Tensor, k: Tensor, v: Tensor, heads: number, scale?: number): Dims {
  const [B, nq, C] = q.shape;
  if (q.shape.length !== 3 || k.shape.length !== 3 || v.shape.length !== 3) throw new RangeError(`attention: q, k, v must be [B, N, H*D]; got [${q.shape}], [${k.shape}], [${v.shape}]`);
  const [Bk, nk, Ck] = k.shape;
  if (Bk !== B || Ck !== C || v.shape[0] !== B || v.shape[1] !== nk || v.shape[2] !== C) throw new RangeError(`attention: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not agree`);
  if (!(heads >= 1) || C % heads !== 0) throw new RangeError(`attention: ${C} channels do not split into ${heads} heads`);
  if (nk < 1 || nq < 1) throw new RangeError('attention: empty sequence');
  const D = C / heads;
  return { B, nq, nk, H: heads, D, C, scale: scale ?? 1 / Math.sqrt(D) };
}

/** Groups of whole batches whose q/k/v (and outputs) each fit one binding. */
function batchChunks(rt: GpuRuntime, d: Dims) {
  return rowChunks(d.B, Math.max(d.nq, d.nk) * d.C, rt.limits.maxStorageBufferBindingSize);
}

/** The uniform block shared by the attention kernels (see Params in the shaders). */
function attentionParams(d: Dims, nb: number, nchunks: number, bases: number[]): Uint8Array {
  const head: [('u32' | 'f32'), number][] = [
    ['u32', nb], ['u32', d.nq], ['u32', d.nk], ['u32', d.H],
    ['u32', d.D], ['u32', nchunks], ['f32', d.scale], ['u32', 0],
  ];
  const padded = [...bases, ...new Array(12 - bases.length).fill(0)];
  return params([...head, ...padded.map((b) => ['u32', b] as ['u32', number])]);
}

const constantsOf = (t: AttentionTiles) => ({ WG: t.wg, BR: t.br, BC: t.bc, DT: t.dt, DP: t.dp });

export function attention(q: Tensor, k: Tensor, v: Tensor, heads: number, opts: AttentionOptions = {}): Tensor {
  const rt = q.rt;
  const d = dimsOf(q, k, v, heads, opts.scale);
  const o32 = Tensor.empty(rt, [d.B, d.nq, d.C], 'f32', 'activations', 'attention');
  const lse = Tensor.empty(rt, [d.B, d.H, d.nq], 'f32', 'activations', 'attention lse');
  const tiles = attentionTiles(rt.limits, 'forward', d.D, d.nq, d.nk);
  const source = specialize(attentionWgsl, { q: q.dtype, k: k.dtype, v: v.dtype });
  for (const c of batchChunks(rt, d)) {
    const qs = elementSlice(q, c.row0 * d.nq * d.C, c.rows * d.nq * d.C);
    const ks = elementSlice(k, c.row0 * d.nk * d.C, c.rows * d.nk * d.C);
    const vs = elementSlice(v, c.row0 * d.nk * d.C, c.rows * d.nk * d.C);
    const os = elementSlice(o32, c.row0 * d.nq * d.C, c.rows * d.nq * d.C);
    const ls = elementSlice(lse, c.row0 * d.H * d.nq, c.rows * d.H * d.nq);
    const u = attentionParams(d, c.rows, tiles.nchunks, [qs.base, ks.base, vs.base, os.base, ls.base]);
    const groups = c.rows * d.H * Math.ceil(d.nq / tiles.br);
    rt.dispatch({ source, entryPoint: 'forward', constants: constantsOf(tiles), label: 'attention' }, [qs.binding, ks.binding, vs.binding, os.binding, ls.binding], u, groups);
  }
  const y = asDtype(o32, q.dtype);
  const wants = [q.requiresGrad, k.requiresGrad, v.requiresGrad];
  record('attention', [q, k, v], [y], [q, k, v, y, lse], ([gy], [sq, sk, sv, so, slse]) => {
    if (!gy) return [null, null, null];
    return attentionBackward(d, sq, sk, sv, so, slse, gy, wants[0], wants[1] || wants[2]);
  });
  lse.dispose();
  return y;
}

/** FlashAttention-2 backward: Dvec = rowsum(dO * O), then dQ (per query tile) and dK, dV (per key tile). */
function attentionBackward(d: Dims, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, gy: Tensor, needQ: boolean, needKV: boolean): (Tensor | null)[] {
  const rt = q.rt;
  const dvec = Tensor.empty(rt, [d.B, d.H, d.nq], 'f32', 'activations', 'attention dvec');
  const dq = needQ ? Tensor.empty(rt, q.shape, 'f32', 'activations', 'attention grad q') : null;
  const dk = needKV ? Tensor.empty(rt, k.shape, 'f32', 'activations', 'attention grad k') : null;
  const dv = needKV ? Tensor.empty(rt, v.shape, 'f32', 'activations', 'attention grad v') : null;
  const source = specialize(attentionBackwardWgsl, { q: q.dtype, k: k.dtype, v: v.dtype, gout: gy.dtype, rg: gy.dtype, ro: o.dtype });
  const tq = attentionTiles(rt.limits, 'dq', d.D, d.nq, d.nk);
  const tkv = attentionTiles(rt.limits, 'dkdv', d.D, d.nq, d.nk);
  const rowThreads = Math.min(64, rt.limits.maxComputeInvocationsPerWorkgroup);
  for (const c of batchChunks(rt, d)) {
    const qSlice = (t: Tensor) => elementSlice(t, c.row0 * d.nq * d.C, c.rows * d.nq * d.C);
    const kSlice = (t: Tensor) => elementSlice(t, c.row0 * d.nk * d.C, c.rows * d.nk * d.C);
    const rowSlice = (t: Tensor) => elementSlice(t, c.row0 * d.H * d.nq, c.rows * d.H * d.nq);
    const [qs, gs, os] = [q, gy, o].map(qSlice);
    const [ks, vs] = [k, v].map(kSlice);
    const [ls, ds] = [lse, dvec].map(rowSlice);
    // Bases in Params order: q, k, v, do, o, lse, dvec, out, out2.
    const base = (out: number, out2 = 0) => [qs.base, ks.base, vs.base, gs.base, os.base, ls.base, ds.base, out, out2];

    const rows = c.rows * d.H * d.nq;
    rt.dispatch(
      { source, entryPoint: 'row_dot', constants: { WG: rowThreads }, label: 'attention-dvec' },
      [gs.binding, os.binding, ds.binding],
      attentionParams(d, c.rows, 1, base(ds.base)),
      Math.ceil(rows / rowThreads),
    );
    const inputs = [qs.binding, ks.binding, vs.binding, gs.binding, ls.binding, ds.binding];
    if (dq) {
      const out = qSlice(dq);
      rt.dispatch(
        { source, entryPoint: 'dq', constants: constantsOf(tq), label: 'attention-dq' },
        [...inputs, out.binding],
        attentionParams(d, c.rows, tq.nchunks, base(out.base)),
        c.rows * d.H * Math.ceil(d.nq / tq.br),
      );
    }
    if (dk && dv) {
      const [outK, outV] = [dk, dv].map(kSlice);
      rt.dispatch(
        { source, entryPoint: 'dkdv', constants: constantsOf(tkv), label: 'attention-dkdv' },
        [...inputs, outK.binding, outV.binding],
        attentionParams(d, c.rows, tkv.nchunks, base(outK.base, outV.base)),
        c.rows * d.H * Math.ceil(d.nk / tkv.bc),
      );
    }
  }
  dvec.dispose();
  return [dq, dk, dv];
}
