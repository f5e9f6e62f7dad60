// Shared by the linalg op tests (ops-matmul, ops-linear, ops-conv2d): golden runs, tolerances, finite differences.
import { expect } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { DType } from '../../src/tensor/dtype.ts';
import { splitK } from '../../src/tensor/ops/split-k.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';
import { loadGolden, maxRelError, type Golden } from '../helpers/golden.ts';

/**
 * Tolerances (max relative error against the reference's max magnitude, see maxRelError). f16 storage: the
 * reference is torch (float64) on the same f16-rounded inputs, so the only extra error is the f16 rounding of
 * the output (2^-11 relative, ~4.9e-4); gradients are f32 computed from the same inputs and keep 1e-4.
 */
export const TOL = { f32: { y: 1e-5, grad: 1e-4 }, f16: { y: 1e-3, grad: 1e-4 } } as const;

/** Max errors seen, by op and dtype, printed by each test file at the end (for the report). */
export const worst: Record<string, number> = {};
function note(key: string, err: number) {
  worst[key] = Math.max(worst[key] ?? 0, err);
}
export function printWorst(op: string) {
  const rows = Object.entries(worst).filter(([k]) => k.startsWith(op));
  console.log(`${op} max relative errors:\n${rows.map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n')}`);
}

/** A golden input as a leaf tensor that requires grad. */
export function leaf(rt: GpuRuntime, g: Golden, name: string, dtype: DType): Tensor {
  const t = keep(Tensor.fromArray(rt, g.t(`in.${name}`), g.shape(`in.${name}`), dtype, 'weights', name));
  t.requiresGrad = true;
  return t;
}

/**
 * Runs `forward` on the golden's inputs (as leaves of the golden's dtype), back-propagates in.gy and checks
 * out.y and every grad.<name> against the golden.
 */
export async function checkGolden(
  rt: GpuRuntime,
  op: string,
  file: string,
  inputNames: string[],
  forward: (inputs: Record<string, Tensor>) => Tensor,
): Promise<void> {
  const g = loadGolden(`ops/${op}/${file}.safetensors`);
  const dtype = (g.meta.dtype as DType) ?? 'f32';
  const inputs: Record<string, Tensor> = {};
  for (const n of inputNames) if (g.has(`in.${n}`)) inputs[n] = leaf(rt, g, n, dtype);
  const y = keep(scope(() => {
    const y = forward(inputs);
    backward(y, Tensor.fromArray(rt, g.t('in.gy'), g.shape('in.gy'), 'f32', 'activations', 'gy'));
    return y;
  }));
  expect(y.shape).toEqual(g.shape('out.y'));
  expect(y.dtype).toBe(dtype);
  const errY = maxRelError(await y.toArray(), g.t('out.y'));
  note(`${op} ${dtype} y`, errY);
  expect(errY, `${file} y: ${errY.toExponential(2)}`).toBeLessThanOrEqual(TOL[dtype].y);
  for (const [n, t] of Object.entries(inputs)) {
    expect(t.grad, `${file}: no gradient for ${n}`).not.toBeNull();
    expect(t.grad!.shape).toEqual(g.shape(`grad.${n}`));
    const err = maxRelError(await t.grad!.toArray(), g.t(`grad.${n}`));
    note(`${op} ${dtype} grad.${n}`, err);
    expect(err, `${file} grad.${n}: ${err.toExponential(2)}`).toBeLessThanOrEqual(TOL[dtype].grad);
  }
  y.dispose();
  for (const t of Object.values(inputs)) {
    t.grad?.dispose();
    t.dispose();
  }
}

const seq = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.37 + seed) * 1.5);

/**
 * Finite-difference check of every gradient on a tiny shape: L = sum(op(inputs) * gy), central differences
 * of L per input element, each L computed by a forward call on the host (f32).
 */
export async function checkFiniteDifferences(
  rt: GpuRuntime,
  shapes: Record<string, number[]>,
  forward: (inputs: Record<string, Tensor>) => Tensor,
  eps = 0.05,
  tol = 2e-3,
): Promise<void> {
  const values: Record<string, Float32Array> = {};
  let seed = 0;
  for (const [n, s] of Object.entries(shapes)) values[n] = seq(s.reduce((a, b) => a * b, 1), seed++);
  const make = (v: Record<string, Float32Array>) =>
    Object.fromEntries(Object.entries(v).map(([n, d]) => [n, Tensor.fromArray(rt, d, shapes[n], 'f32', 'data', n)]));

  // Analytic gradients.
  const leaves = Object.fromEntries(Object.entries(make(values)).map(([n, t]) => [n, keep(t)]));
  for (const t of Object.values(leaves)) t.requiresGrad = true;
  let gyData: Float32Array = new Float32Array();
  scope(() => {
    const y = forward(leaves);
    gyData = seq(y.numel, 7);
    backward(y, Tensor.fromArray(rt, gyData, y.shape, 'f32', 'activations', 'gy'));
  });

  // Every perturbed forward is recorded first and copied into one buffer, read back once.
  const count = Object.values(values).reduce((a, v) => a + 2 * v.length, 0);
  const all = keep(Tensor.empty(rt, [count * gyData.length], 'f32', 'activations', 'fd outputs'));
  let slot = 0;
  for (const n of Object.keys(leaves)) {
    for (let i = 0; i < values[n].length; i++) {
      for (const sign of [1, -1]) {
        const v = { ...values, [n]: values[n].slice() };
        v[n][i] += sign * eps;
        noGrad(() => scope(() => {
          const y = forward(make(v));
          rt.copy(y.buffer, 0, all.buffer, slot++ * y.bytes, y.bytes);
        }));
      }
    }
  }
  const flat = await all.toArray();
  all.dispose();
  const losses: number[] = [];
  for (let j = 0; j < count; j++) {
    let s = 0;
    for (let i = 0; i < gyData.length; i++) s += flat[j * gyData.length + i] * gyData[i];
    losses.push(s);
  }
  let at = 0;
  for (const [n, t] of Object.entries(leaves)) {
    const analytic = await t.grad!.toArray();
    const numeric = analytic.map(() => {
      const d = (losses[at] - losses[at + 1]) / (2 * eps);
      at += 2;
      return d;
    });
    const err = maxRelError(analytic, numeric);
    expect(err, `finite differences for ${n}: ${err.toExponential(2)}`).toBeLessThanOrEqual(tol);
    t.grad!.dispose();
    t.dispose();
  }
}

/**
 * One runtime per test file: pipelines are cached per runtime, and compiling them dominates SwiftShader test
 * time. `withBindingLimit` lowers maxStorageBufferBindingSize on it for one test and restores it.
 */
let shared: Promise<GpuRuntime> | null = null;
export const sharedRuntime = (): Promise<GpuRuntime> => (shared ??= testRuntime());

export async function withBindingLimit(rt: GpuRuntime, bytes: number, fn: () => Promise<void>): Promise<void> {
  const prev = rt.limits.maxStorageBufferBindingSize;
  rt.limits.maxStorageBufferBindingSize = bytes;
  try {
    await fn();
  } finally {
    rt.limits.maxStorageBufferBindingSize = prev;
  }
}

/**
 * Runs fn with split-K forced on every GEMM that can take it (slices of TK = 16), and returns how many
 * split-K workspaces were allocated; each must be freed by the op that allocated it.
 */
export async function withForcedSplitK(rt: GpuRuntime, fn: () => Promise<void>): Promise<number> {
  const prev = { ...splitK };
  Object.assign(splitK, { targetWorkgroups: 1 << 20, minSliceDepth: 1 });
  const live = new Set<number>();
  let count = 0;
  const off = rt.ledger.onEvent((e) => {
    if (!('label' in e) || !e.label.endsWith('split-k')) return;
    if (e.type === 'alloc') {
      count++;
      live.add(e.id);
    } else if (e.type === 'free') live.delete(e.id);
  });
  try {
    await fn();
  } finally {
    off();
    Object.assign(splitK, prev);
  }
  expect(live.size, 'split-k workspaces left allocated').toBe(0);
  return count;
}

/**
 * Bytes `run` adds to the ledger's peak, measured without pooling (what was pooled is released first), so a
 * runtime that already ran other tests (the shared one, with its compiled pipelines) compares with a fresh
 * meta runtime.
 */
export async function peakOf(rt: GpuRuntime, run: (rt: GpuRuntime) => void): Promise<number> {
  const pooling = rt.ledger.pooling;
  rt.ledger.pooling = false;
  try {
    await rt.sync();
    rt.ledger.trim(0);
    rt.ledger.resetPeaks();
    const base = rt.ledger.snapshot().held;
    scope(() => run(rt));
    await rt.sync();
    return rt.ledger.snapshot().peak - base;
  } finally {
    rt.ledger.pooling = pooling;
  }
}

/**
 * Runs `run` (which makes its own leaves and back-propagates, returning the leaves) on the shared runtime and on
 * a fresh meta runtime, both with the binding limit `limit` and split-K forced: the planner must predict the
 * same peak. Returns the peaks and how many split-K workspaces each made.
 */
export async function peaksOnBothDevices(limit: number, run: (rt: GpuRuntime) => Tensor[]): Promise<{ peaks: number[]; splits: number[] }> {
  const peaks: number[] = [];
  const splits: number[] = [];
  for (const rt of [await sharedRuntime(), await metaRuntime()]) {
    let leaves: Tensor[] = [];
    await withBindingLimit(rt, limit, async () => {
      splits.push(await withForcedSplitK(rt, async () => {
        peaks.push(await peakOf(rt, () => (leaves = run(rt))));
      }));
    });
    for (const t of leaves) {
      t.grad?.dispose();
      t.dispose();
    }
  }
  return { peaks, splits };
}
