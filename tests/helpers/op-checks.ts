import { expect } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { DType } from '../../src/tensor/dtype.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { loadGolden, maxRelError } from './golden.ts';
import { testRuntime } from './gpu.ts';

/** Tolerances per storage dtype: forward (y) and gradients (g), relative to the reference's max. */
export type Tolerances = Record<DType, { y: number; g: number }>;

/** The worst error seen per key, for a test file's closing summary. */
export function errorLog() {
  const errors: Record<string, number> = {};
  const note = (key: string, err: number) => (errors[key] = Math.max(errors[key] ?? 0, err));
  return { errors, note };
}

/**
 * A golden checker: uploads in.<names> in the case's dtype, seeds backward with in.gy, compares out.y and
 * every input's gradient with the file's torch values under TOL; notes each error.
 */
export function goldenChecker(TOL: Tolerances, note: (key: string, err: number) => void) {
  return async function checkGolden(op: string, file: string, names: string[], fn: (...xs: Tensor[]) => Tensor): Promise<void> {
    const rt = await testRuntime();
    const g = loadGolden(`ops/${op}/${file}.safetensors`);
    const dtype = g.meta.dtype as DType;
    const xs = names.map((n) => {
      const t = Tensor.fromArray(rt, g.t(`in.${n}`), g.shape(`in.${n}`), dtype, 'data', n);
      t.requiresGrad = true;
      return t;
    });
    const y = fn(...xs);
    expect(y.shape).toEqual(g.shape('out.y'));
    backward(y, Tensor.fromArray(rt, g.t('in.gy'), g.shape('in.gy'), 'f32'));
    const yErr = maxRelError(await y.toArray(), g.t('out.y'));
    note(`${op} ${dtype} y`, yErr);
    expect(yErr, `${op}/${file} out.y`).toBeLessThanOrEqual(TOL[dtype].y);
    for (let i = 0; i < names.length; i++) {
      const gErr = maxRelError(await xs[i].grad!.toArray(), g.t(`grad.${names[i]}`));
      note(`${op} ${dtype} grad`, gErr);
      expect(gErr, `${op}/${file} grad.${names[i]}`).toBeLessThanOrEqual(TOL[dtype].g);
    }
  };
}

/**
 * Central differences of sum(fn(xs) * w) on the host (GPU forward calls), against backward's gradients.
 * f32 with h = 1e-2: truncation and rounding errors are both around 1e-4 of the gradient scale.
 */
export async function checkFiniteDifferences(rt: GpuRuntime, inputs: { data: Float32Array; shape: number[] }[], fn: (...xs: Tensor[]) => Tensor, h = 1e-2): Promise<number> {
  const forward = async (datas: Float32Array[]) => {
    const y = noGrad(() => fn(...datas.map((d, i) => Tensor.fromArray(rt, d, inputs[i].shape))));
    return y.toArray();
  };
  const y0 = await forward(inputs.map((x) => x.data));
  const w = Float32Array.from(y0, (_, i) => Math.cos(i * 1.7) + 0.5);
  const loss = async (datas: Float32Array[]) => (await forward(datas)).reduce((s, v, i) => s + v * w[i], 0);
  const xs = inputs.map((x) => {
    const t = Tensor.fromArray(rt, x.data, x.shape);
    t.requiresGrad = true;
    return t;
  });
  const y = fn(...xs);
  backward(y, Tensor.fromArray(rt, w, y.shape));
  let worst = 0;
  for (let k = 0; k < inputs.length; k++) {
    const analytic = await xs[k].grad!.toArray();
    const numeric = new Float32Array(analytic.length);
    for (let i = 0; i < numeric.length; i++) {
      const plus = inputs.map((x) => x.data.slice());
      const minus = inputs.map((x) => x.data.slice());
      plus[k][i] += h;
      minus[k][i] -= h;
      numeric[i] = ((await loss(plus)) - (await loss(minus))) / (2 * h);
    }
    worst = Math.max(worst, maxRelError(analytic, numeric));
  }
  return worst;
}

export const rand = (n: number, seed: number) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
};
