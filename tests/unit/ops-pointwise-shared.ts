// Shared by the pointwise-and-norms op tests: golden runs, tolerances, finite differences, meta peaks, and a
// dispatch spy that proves every binding stays under maxStorageBufferBindingSize.
import { expect } from 'vitest';
import type { Binding, GpuRuntime } from '../../src/gpu/runtime.ts';
import type { DType } from '../../src/tensor/dtype.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';
import { loadGolden, maxRelError } from '../helpers/golden.ts';

/**
 * Tolerances: max |error| / max |reference| (see maxRelError). The .f16 goldens are torch (float64) on the
 * same f16-rounded inputs, so with f16 storage the only extra error of y is its f16 rounding (2^-11 of a
 * value, ~4.9e-4 of the largest); gradients are f32, computed from the same inputs, and keep the f32 bound.
 */
export const TOL = { f32: { y: 1e-5, grad: 1e-4 }, f16: { y: 1e-3, grad: 1e-4 } } as const;

/** Worst errors seen by key ("gelu f16 grad"), printed at the end of each file for the report. */
const worst = new Map<string, number>();
export function note(key: string, err: number): void {
  worst.set(key, Math.max(worst.get(key) ?? 0, err));
}
export function printWorst(): void {
  console.log([...worst].map(([k, v]) => `${k.padEnd(28)} ${v.toExponential(2)}`).join('\n'));
}

export type Inputs = Record<string, Tensor>;

/**
 * Runs `forward` on ops/<op>/<file>(.f16).safetensors: inputs uploaded in `dtype` as leaves that require
 * grad, backward seeded with in.gy, out.y and every grad.<name> compared with the golden.
 */
export async function checkGolden(
  rt: GpuRuntime,
  op: string,
  file: string,
  dtype: DType,
  forward: (inputs: Inputs, meta: Record<string, unknown>) => Tensor,
  tol: { y: number; grad: number } = TOL[dtype],
): Promise<void> {
  const g = loadGolden(`ops/${op}/${file}${dtype === 'f16' ? '.f16' : ''}.safetensors`);
  // A kernel that fails validation drops its whole submit without throwing: catch it here.
  rt.device.pushErrorScope('validation');
  const names = g.names.filter((n) => n.startsWith('in.') && n !== 'in.gy').map((n) => n.slice(3));
  const inputs: Inputs = {};
  for (const n of names) {
    inputs[n] = keep(Tensor.fromArray(rt, g.t(`in.${n}`), g.shape(`in.${n}`), dtype, 'weights', n));
    inputs[n].requiresGrad = g.has('in.gy');
  }
  const y = keep(
    scope(() => {
      const y = forward(inputs, g.meta);
      if (g.has('in.gy')) backward(y, Tensor.fromArray(rt, g.t('in.gy'), g.shape('in.gy'), 'f32', 'activations', 'gy'));
      return y;
    }),
  );
  await rt.sync();
  const invalid = await rt.device.popErrorScope();
  expect(invalid?.message, `${op}/${file}: GPU validation error`).toBeUndefined();
  expect(y.shape).toEqual(g.shape('out.y'));
  expect(y.dtype).toBe(dtype);
  const errY = maxRelError(await y.toArray(), g.t('out.y'));
  note(`${op} ${dtype} y`, errY);
  expect(errY, `${op}/${file} ${dtype} y: ${errY.toExponential(2)}`).toBeLessThanOrEqual(tol.y);
  for (const n of names) {
    if (!g.has(`grad.${n}`)) continue;
    const grad = inputs[n].grad;
    expect(grad, `${op}/${file}: no gradient for ${n}`).not.toBeNull();
    expect(grad!.dtype).toBe('f32');
    const err = maxRelError(await grad!.toArray(), g.t(`grad.${n}`));
    note(`${op} ${dtype} grad`, err);
    expect(err, `${op}/${file} ${dtype} grad.${n}: ${err.toExponential(2)}`).toBeLessThanOrEqual(tol.grad);
  }
  y.dispose();
  for (const t of Object.values(inputs)) {
    t.grad?.dispose();
    t.dispose();
  }
}

/** Deterministic pseudo-random values in [-1, 1) (a small LCG: tests stay reproducible). */
export function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

export interface FdInput {
  data: Float32Array;
  shape: number[];
  /** Not differentiated (e.g. an integer-like parameter); defaults to true. */
  grad?: boolean;
}

/**
 * Central finite differences of L = sum(y * gy) on the host (f32 forward calls) against the tape's
 * gradients, for every element of every differentiable input. Returns the worst relative error.
 */
export async function finiteDifference(rt: GpuRuntime, inputs: Record<string, FdInput>, op: (xs: Inputs) => Tensor, h = 1e-2): Promise<number> {
  const upload = (over?: { name: string; i: number; delta: number }) => {
    const xs: Inputs = {};
    for (const [name, v] of Object.entries(inputs)) {
      const data = Float32Array.from(v.data);
      if (over?.name === name) data[over.i] += over.delta;
      xs[name] = Tensor.fromArray(rt, data, v.shape, 'f32', 'activations', name);
    }
    return xs;
  };
  const probe = keep(scope(() => op(upload())));
  const gy = seeded(probe.numel, 99);
  const gyShape = probe.shape;
  probe.dispose();
  const loss = async (over?: { name: string; i: number; delta: number }) => {
    const y = keep(scope(() => op(upload(over))));
    const v = await y.toArray();
    y.dispose();
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i] * gy[i];
    return s;
  };
  // Analytic gradients from the tape.
  const leaves = scope(() => {
    const xs = upload();
    for (const [name, t] of Object.entries(xs)) t.requiresGrad = inputs[name].grad !== false;
    backward(op(xs), Tensor.fromArray(rt, gy, gyShape, 'f32', 'activations', 'gy'));
    return Object.values(xs).map((t) => keep(t));
  });
  let worstErr = 0;
  for (const [k, [name, v]] of Object.entries(inputs).entries()) {
    if (v.grad === false) continue;
    const grad = leaves[k].grad;
    expect(grad, `finite differences: no gradient for ${name}`).not.toBeNull();
    const analytic = await grad!.toArray();
    const numeric = new Float32Array(v.data.length);
    for (let i = 0; i < v.data.length; i++) {
      numeric[i] = ((await loss({ name, i, delta: h })) - (await loss({ name, i, delta: -h }))) / (2 * h);
    }
    worstErr = Math.max(worstErr, maxRelError(analytic, numeric, 1e-3));
  }
  for (const t of leaves) {
    t.grad?.dispose();
    t.dispose();
  }
  return worstErr;
}

/**
 * Runs `body` (forward + backward of an op) on the meta device and on the test device and returns both
 * ledger peaks; they must be equal (the planner predicts exactly what a run allocates).
 */
export async function metaAndRealPeaks(body: (rt: GpuRuntime) => void): Promise<[number, number]> {
  const peaks: number[] = [];
  for (const rt of [await testRuntime({ pooling: false }), await metaRuntime({ pooling: false })]) {
    const base = rt.ledger.snapshot().live;
    scope(() => body(rt));
    await rt.sync();
    expect(rt.ledger.snapshot().live, 'everything made inside the scope is freed').toBe(base);
    peaks.push(rt.ledger.snapshot().peak);
  }
  return [peaks[0], peaks[1]];
}

/**
 * Lowers maxStorageBufferBindingSize on a fresh runtime and fails the test if any dispatch binds more (the
 * device itself would accept it, so the spy is what proves the chunking). Returns the runtime and a counter.
 */
export async function smallBindingRuntime(maxBytes: number): Promise<{ rt: GpuRuntime; dispatches: () => number }> {
  const rt = await testRuntime();
  rt.limits.maxStorageBufferBindingSize = maxBytes;
  let count = 0;
  const dispatch = rt.dispatch.bind(rt);
  rt.dispatch = (spec, bindings: Binding[], uniforms, workgroups) => {
    for (const b of bindings) {
      const size = 'buffer' in b ? b.size : b.bytes;
      if (size > maxBytes) throw new Error(`${spec.label}: binding of ${size} bytes passes the ${maxBytes}-byte limit`);
    }
    count++;
    dispatch(spec, bindings, uniforms, workgroups);
  };
  return { rt, dispatches: () => count };
}
