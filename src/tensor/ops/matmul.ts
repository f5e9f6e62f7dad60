import matmulWgsl from '../../../shaders/matmul.wgsl?raw';
import type { GpuRuntime } from '../../gpu/runtime.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';
import { largestFitting, rangeBinding, rangeBytes, wholeBinding } from './linalg-ranges.ts';
import { planSplit, splitWorkspace, sumSlices, type SplitPlan } from './split-k.ts';

/** Workgroup shape of the GEMM kernel (its override constants): a tile is 8*WG_Y rows by 8*WG_X columns. */
export const matmulTiles = { WG_X: 8, WG_Y: 8, TK: 16 };

/** A strided view of a GEMM operand: element (batch, i, j) is t[batch * sb + i * si + j * sj]. */
export interface GemmOperand {
  t: Tensor;
  sb: number;
  si: number;
  sj: number;
}

export interface GemmSpec {
  /** M x K (per batch). */
  a: GemmOperand;
  /** K x N (per batch). */
  b: GemmOperand;
  M: number;
  N: number;
  K: number;
  /** Output batches; output batch z sums operand batches z*nRed .. z*nRed + nRed - 1. */
  batches: number;
  /** Operand batches summed into each output (a gradient of a broadcast operand); only with batches = 1. */
  nRed?: number;
  /** Added to every row: bias[n]. */
  bias?: Tensor;
  /** f32, batches x M x N, row-major. */
  out: Tensor;
  /** out += product instead of out = product. */
  accumulate?: boolean;
}

/** Row-major [..., rows, cols] storage read as an operand, transposed or not; sb = 0 broadcasts over batches. */
export function operand(t: Tensor, transposed: boolean, batched: boolean): GemmOperand {
  const rows = t.shape[t.shape.length - 2];
  const cols = t.shape[t.shape.length - 1];
  return { t, sb: batched ? rows * cols : 0, si: transposed ? 1 : cols, sj: transposed ? cols : 1 };
}

export const transposed = (o: GemmOperand): GemmOperand => ({ ...o, si: o.sj, sj: o.si });

/** Elements spanned by `nb` batches of `rows` x `cols` of an operand (strides are non-negative). */
const span = (o: GemmOperand, nb: number, rows: number, cols: number) => (nb - 1) * o.sb + (rows - 1) * o.si + (cols - 1) * o.sj + 1;

/**
 * Records C = A @ B (batched, strided; see GemmSpec) into spec.out, split into dispatches whose bindings fit
 * maxStorageBufferBindingSize and whose grids fit maxComputeWorkgroupsPerDimension.
 */
export function gemmInto(rt: GpuRuntime, spec: GemmSpec): void {
  let { a, b, M, K } = spec;
  const { N, out, bias } = spec;
  let { batches } = spec;
  let nRed = spec.nRed ?? 1;
  if (nRed > 1 && batches !== 1) throw new Error('gemm: a batch reduction needs a single output batch');
  // Contiguous batches fold into one bigger GEMM: rows (a broadcast B) or the contraction (a batch sum).
  if (nRed === 1 && batches > 1 && b.sb === 0 && a.sb === M * a.si) {
    [M, batches, a] = [M * batches, 1, { ...a, sb: 0 }];
  }
  if (nRed > 1 && a.sb === K * a.sj && b.sb === K * b.si) {
    [K, nRed, a, b] = [K * nRed, 1, { ...a, sb: 0 }, { ...b, sb: 0 }];
  }
  if (M === 0 || N === 0 || batches === 0) return;

  const { WG_X, WG_Y, TK } = matmulTiles;
  const TM = 8 * WG_Y;
  const TN = 8 * WG_X;
  const limit = rt.limits.maxStorageBufferBindingSize;
  const maxGrid = rt.limits.maxComputeWorkgroupsPerDimension;
  const maxRows = maxGrid * TM;
  if (Math.ceil(N / TN) > maxGrid) throw new RangeError(`gemm: N = ${N} is past the dispatch grid`);
  const source = specialize(matmulWgsl, { a: a.t.dtype, b: b.t.dtype, bias: (bias ?? a.t).dtype });
  const kernel = { source, label: 'matmul', constants: { WG_X, WG_Y, TK, A_ALONG_K: a.sj === 1 ? 1 : 0, B_ALONG_N: b.sj === 1 ? 1 : 0 } };
  const biasBinding = bias ? wholeBinding(bias, limit) : null;
  // Elements spanned by a piece of each operand (operand batches counted with the reduction folded in).
  const spanA = (nb: number, rows: number, kc: number) => span(a, nb, rows, kc);
  const spanB = (nb: number, kc: number) => span(b, nb, kc, N);
  const spanC = (nb: number, rows: number) => (nb - 1) * M * N + rows * N;
  const fits = (nb: number, rows: number, nr: number, kc: number) =>
    rangeBytes(a.t, spanA(nb * nr, rows, kc)) <= limit && rangeBytes(b.t, spanB(nb * nr, kc)) <= limit && rangeBytes(out, spanC(nb, rows)) <= limit;

  /** One dispatch: output batches [b0, b0+nb), rows [m0, m0+rows), summed batches [r0, r0+nr), depth [k0, k0+kc). */
  const launch = (b0: number, nb: number, m0: number, rows: number, r0: number, nr: number, k0: number, kc: number) => {
    const ra = rangeBinding(a.t, (b0 * nRed + r0) * a.sb + m0 * a.si + k0 * a.sj, spanA(nb * nr, rows, kc), limit);
    const rb = rangeBinding(b.t, (b0 * nRed + r0) * b.sb + k0 * b.si, spanB(nb * nr, kc), limit);
    const rc = rangeBinding(out, b0 * M * N + m0 * N, spanC(nb, rows), limit);
    const rbias = biasBinding ?? ra;
    // Later parts of a split sum add to what the first part wrote.
    const first = r0 === 0 && k0 === 0;
    const flags = (spec.accumulate || !first ? 1 : 0) | (bias && first ? 2 : 0);
    const u = params([
      ['u32', rows], ['u32', N], ['u32', kc], ['u32', nr],
      ['u32', ra.base], ['u32', a.sb], ['u32', a.si], ['u32', a.sj],
      ['u32', rb.base], ['u32', b.sb], ['u32', b.si], ['u32', b.sj],
      ['u32', rc.base], ['u32', M * N], ['u32', rbias.base], ['u32', flags],
      ['u32', 0],
    ]);
    rt.dispatch(kernel, [ra.binding, rb.binding, rbias.binding, rc.binding], u, [Math.ceil(N / TN), Math.ceil(rows / TM), nb]);
  };

  /** The whole single-output product as depth slices (over summed batches and K) into a workspace, summed into out. */
  const launchSplit = (plan: SplitPlan) => {
    const ws = splitWorkspace(rt, plan, M * N, 'matmul');
    const ra = rangeBinding(a.t, 0, spanA(nRed, M, K), limit);
    const rb = rangeBinding(b.t, 0, spanB(nRed, K), limit);
    const rws = wholeBinding(ws, limit);
    const u = params([
      ['u32', M], ['u32', N], ['u32', K], ['u32', nRed],
      ['u32', ra.base], ['u32', a.sb], ['u32', a.si], ['u32', a.sj],
      ['u32', rb.base], ['u32', b.sb], ['u32', b.si], ['u32', b.sj],
      ['u32', 0], ['u32', M * N], ['u32', 0], ['u32', 4],
      ['u32', plan.sliceDepth],
    ]);
    rt.dispatch(kernel, [ra.binding, rb.binding, ra.binding, rws.binding], u, [Math.ceil(N / TN), Math.ceil(M / TM), plan.slices]);
    sumSlices(rt, ws, plan.slices, M * N, rangeBinding(out, 0, M * N, limit), !!spec.accumulate);
    ws.dispose();
  };

  /** Split-K when a single-output product fits one launch but has few tiles for its depth. */
  const splitPlan = () =>
    batches === 1 && !bias && M <= maxRows && fits(1, M, nRed, K) ? planSplit(rt, Math.ceil(M / TM) * Math.ceil(N / TN), nRed * K, M * N, TK) : null;

  /** One output batch, one summed batch: split rows, and the depth K when a row block alone is too big. */
  const rowsAndDepth = (z: number, r0: number, nr: number) => {
    let rows = largestFitting(Math.min(M, maxRows), (r) => fits(1, r, nr, K));
    let kc = K;
    if (rows === 0) {
      // Full rows if a thin depth slice fits them (weight gradients: the depth is the big dimension).
      rows = Math.min(M, maxRows);
      if (!fits(1, rows, nr, 1)) rows = largestFitting(rows, (r) => fits(1, r, nr, 1));
      kc = largestFitting(K, (k) => fits(1, rows, nr, k));
    }
    if (rows === 0 || kc === 0) throw new RangeError(`gemm: no piece of [${M}x${K}]@[${K}x${N}] fits a ${limit}-byte binding`);
    for (let m0 = 0; m0 < M; m0 += rows) {
      for (let k0 = 0; k0 < K; k0 += kc) launch(z, 1, m0, Math.min(rows, M - m0), r0, nr, k0, Math.min(kc, K - k0));
    }
  };

  const plan = splitPlan();
  if (plan) {
    launchSplit(plan);
    return;
  }
  if (nRed > 1) {
    // One output, summed over operand batches: split the sum first.
    const nr = M > maxRows ? 0 : largestFitting(nRed, (n) => fits(1, M, n, K));
    if (nr > 0) for (let r0 = 0; r0 < nRed; r0 += nr) launch(0, 1, 0, M, r0, Math.min(nr, nRed - r0), 0, K);
    else for (let r0 = 0; r0 < nRed; r0++) rowsAndDepth(0, r0, 1);
    return;
  }
  const nb = M > maxRows ? 0 : largestFitting(Math.min(batches, maxGrid), (n) => fits(n, M, 1, K));
  if (nb > 0) for (let b0 = 0; b0 < batches; b0 += nb) launch(b0, Math.min(nb, batches - b0), 0, M, 0, 1, 0, K);
  else for (let z = 0; z < batches; z++) rowsAndDepth(z, 0, 1);
}

/** gemmInto a new f32 tensor of `shape` (batches * M * N elements). */
export function gemm(rt: GpuRuntime, spec: Omit<GemmSpec, 'out'>, shape: readonly number[], label: string): Tensor {
  const out = Tensor.empty(rt, shape, 'f32', 'activations', label);
  gemmInto(rt, { ...spec, out });
  return out;
}

export interface MatmulOptions {
  /** a is stored [..., K, M]. */
  transA?: boolean;
  /** b is stored [..., N, K]. */
  transB?: boolean;
  /** Output storage; defaults to a's. */
  dtype?: DType;
}

/**
 * Batched matrix product: a [..., M, K] (or [..., K, M] with transA) times b [..., K, N] (or [..., N, K] with
 * transB) -> [..., M, N]. Batch dims are equal, or one side has none (broadcast, e.g. a weight).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false } = opts;
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`matmul: operands need 2+ dims, got [${a.shape}] and [${b.shape}]`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  if (aBatch.length && bBatch.length && aBatch.join() !== bBatch.join()) throw new Error(`matmul: batch dims [${aBatch}] and [${bBatch}] differ`);
  const batchShape = aBatch.length ? aBatch : bBatch;
  const batches = batchShape.reduce((x, y) => x * y, 1);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  if (K !== Kb) throw new Error(`matmul: [${a.shape}]${transA ? 'ᵀ' : ''} @ [${b.shape}]${transB ? 'ᵀ' : ''}: inner sizes ${K} and ${Kb} differ`);
  const aBatched = aBatch.length > 0;
  const bBatched = bBatch.length > 0;
  const rt = a.rt;

  const opA = operand(a, transA, aBatched);
  const opB = operand(b, transB, bBatched);
  const y32 = gemm(rt, { a: opA, b: opB, M, N, K, batches }, [...batchShape, M, N], 'matmul');
  const y = asDtype(y32, opts.dtype ?? a.dtype);

  const needA = a.requiresGrad;
  const needB = b.requiresGrad;
  // Keep only what the wanted gradients read: dA needs b, dB needs a.
  const saved = [...(needB ? [a] : []), ...(needA ? [b] : [])];
  record('matmul', [a, b], [y], saved, ([gy], s) => {
    if (!gy) return [null, null];
    const sa = needB ? s[0] : null;
    const sb = needA ? s[needB ? 1 : 0] : null;
    const g = operand(gy, false, true);
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (sb) {
      const ob = operand(sb, transB, bBatched);
      // d op(a) = gy @ op(b)ᵀ; stored transposed when transA. A broadcast a sums over batches.
      const spec = transA
        ? { a: ob, b: transposed(g), M: K, N: M, K: N }
        : { a: g, b: transposed(ob), M, N: K, K: N };
      ga = gemm(rt, { ...spec, ...reduceOrBatch(aBatched, batches) }, a.shape, 'matmul dA');
    }
    if (sa) {
      const oa = operand(sa, transA, aBatched);
      // d op(b) = op(a)ᵀ @ gy; stored transposed when transB. A broadcast b sums over batches.
      const spec = transB
        ? { a: transposed(g), b: oa, M: N, N: K, K: M }
        : { a: transposed(oa), b: g, M: K, N, K: M };
      gb = gemm(rt, { ...spec, ...reduceOrBatch(bBatched, batches) }, b.shape, 'matmul dB');
    }
    return [ga, gb];
  });
  return y;
}

/** A gradient keeps the batches of a batched operand and sums them for a broadcast one. */
const reduceOrBatch = (batched: boolean, batches: number) => (batched ? { batches } : { batches: 1, nRed: batches });
