import { describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { DType } from '../../src/tensor/dtype.ts';
import { mseLoss } from '../../src/tensor/ops/mse-loss.ts';
import { mean, sum } from '../../src/tensor/ops/reduce.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose, loadGolden, maxRelError } from '../helpers/golden.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';

// Tolerances. f32 storage: forward 1e-5, gradients 1e-4 (relative to the reference's max). f16 storage:
// the reference runs on the f16-rounded inputs, and our output is stored as f16 (half an ulp: 2^-11 relative),
// so forward 1e-3; gradients are f32 but come from f16 inputs: 1e-3.
const TOL = { f32: { y: 1e-5, g: 1e-4 }, f16: { y: 1e-3, g: 1e-3 } };

const errors: Record<string, number> = {};
const note = (key: string, err: number) => (errors[key] = Math.max(errors[key] ?? 0, err));

/** Runs one golden: uploads in.<names> in the case's dtype, seeds backward with in.gy, compares out.y and grads. */
async function checkGolden(op: string, file: string, names: string[], fn: (...xs: Tensor[]) => Tensor): Promise<void> {
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
}

/**
 * Central differences of sum(fn(xs) * w) on the host (GPU forward calls), against backward's gradients.
 * f32 with h = 1e-2: truncation and rounding errors are both around 1e-4 of the gradient scale.
 */
async function checkFiniteDifferences(rt: GpuRuntime, inputs: { data: Float32Array; shape: number[] }[], fn: (...xs: Tensor[]) => Tensor, h = 1e-2): Promise<number> {
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

const rand = (n: number, seed: number) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
};

describe('sum / mean', () => {
  for (const dtype of ['f32', 'f16']) {
    for (const shape of ['3x5x7', '2x1000']) {
      it(`match torch (${shape}, ${dtype})`, async () => {
        await checkGolden('sum', `all_${shape}_${dtype}`, ['x'], (x) => sum(x));
        await checkGolden('sum', `last_${shape}_${dtype}`, ['x'], (x) => sum(x, -1));
        await checkGolden('mean', `all_${shape}_${dtype}`, ['x'], (x) => mean(x));
        await checkGolden('mean', `last_${shape}_${dtype}`, ['x'], (x) => mean(x, -1));
      });
    }
  }

  it('gradients agree with finite differences', async () => {
    const rt = await testRuntime();
    const x = { data: rand(12, 3), shape: [3, 4] };
    for (const fn of [(t: Tensor) => sum(t), (t: Tensor) => mean(t), (t: Tensor) => sum(t, -1), (t: Tensor) => mean(t, -1)]) {
      const err = await checkFiniteDifferences(rt, [x], fn);
      note('sum/mean finite differences', err);
      expect(err).toBeLessThan(1e-3);
    }
  });

  it('sums millions of elements accurately and bit-identically on every run', async () => {
    const rt = await testRuntime();
    const n = 2_000_001;
    const data = rand(n, 7).map((v) => v + 0.25);
    let exact = 0;
    for (const v of data) exact += v;
    const x = Tensor.fromArray(rt, data, [n]);
    const runs = await Promise.all([0, 1, 2].map(() => noGrad(() => sum(x)).toArray()));
    expect(runs[1][0]).toBe(runs[0][0]);
    expect(runs[2][0]).toBe(runs[0][0]);
    // A serial f32 sum would be off by ~1e-4 relative here; the tree keeps it near f32 rounding.
    expect(Math.abs(runs[0][0] - exact) / Math.abs(exact)).toBeLessThan(2e-6);
    const m = await noGrad(() => mean(x)).toArray();
    expect(Math.abs(m[0] - exact / n) / Math.abs(exact / n)).toBeLessThan(2e-6);
  });

  it('reduces tensors larger than a binding (chunked passes)', async () => {
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 1024; // 256 f32 per binding
    const data = rand(5000, 11);
    const x = Tensor.fromArray(rt, data, [10, 500]);
    x.requiresGrad = true;
    let exact = 0;
    for (const v of data) exact += v;
    const s = sum(x);
    expect(Math.abs((await s.toArray())[0] - exact)).toBeLessThan(1e-4);
    const rowsX = Tensor.fromArray(rt, data.slice(0, 1000), [50, 20]);
    rowsX.requiresGrad = true;
    const r = sum(rowsX, -1);
    const rv = await r.toArray();
    for (let i = 0; i < 50; i++) {
      let e = 0;
      for (let j = 0; j < 20; j++) e += data[i * 20 + j];
      expect(Math.abs(rv[i] - e)).toBeLessThan(1e-5);
    }
    backward(r, Tensor.fromArray(rt, Float32Array.from({ length: 50 }, (_, i) => i), [50]));
    const gx = await rowsX.grad!.toArray();
    expect(gx).toEqual(Float32Array.from({ length: 1000 }, (_, i) => Math.floor(i / 20)));
    const h = Tensor.fromArray(rt, data, [5000], 'f16');
    const hs = await noGrad(() => sum(h)).toArray();
    const half = await h.toArray();
    expect(Math.abs(hs[0] - half.reduce((a, b) => a + b, 0))).toBeLessThan(0.05); // output stored as f16
  });
});

describe('mseLoss', () => {
  for (const dtype of ['f32', 'f16']) {
    for (const shape of ['2x3x5x7', '2049']) {
      it(`matches torch (${shape}, ${dtype})`, async () => {
        await checkGolden('mse_loss', `${shape}_${dtype}`, ['a', 'b'], (a, b) => mseLoss(a, b));
      });
    }
  }

  it('gradients agree with finite differences', async () => {
    const rt = await testRuntime();
    const err = await checkFiniteDifferences(rt, [{ data: rand(10, 1), shape: [2, 5] }, { data: rand(10, 2), shape: [2, 5] }], (a, b) => mseLoss(a, b));
    note('mse finite differences', err);
    expect(err).toBeLessThan(1e-3);
  });

  it('works past the binding size', async () => {
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 1024;
    const a = rand(3001, 5);
    const b = rand(3001, 6);
    let exact = 0;
    for (let i = 0; i < a.length; i++) exact += (a[i] - b[i]) ** 2;
    exact /= a.length;
    const ta = Tensor.fromArray(rt, a, [3001]);
    ta.requiresGrad = true;
    const y = mseLoss(ta, Tensor.fromArray(rt, b, [3001]));
    expect(Math.abs((await y.toArray())[0] - exact) / exact).toBeLessThan(1e-5);
    backward(y);
    const ga = await ta.grad!.toArray();
    expectClose(ga, a.map((v, i) => (2 * (v - b[i])) / a.length), 1e-5, 'mse grad (chunked)');
  });
});

describe('reductions on the meta device', () => {
  it('record the same ledger peak as a real run', async () => {
    const peaks: number[] = [];
    for (const rt of [await testRuntime({ pooling: false }), await metaRuntime({ pooling: false })]) {
      scope(() => {
        const x = keep(Tensor.empty(rt, [40, 1000], 'f16', 'weights', 'x'));
        x.requiresGrad = true;
        const y = Tensor.empty(rt, [40, 1000], 'f32', 'data', 'y');
        backward(mseLoss(x, y));
        backward(sum(mean(x, -1)));
      });
      await rt.sync();
      peaks.push(rt.ledger.snapshot().peak);
    }
    expect(peaks[1]).toBe(peaks[0]);
  });
});

describe('report', () => {
  it('prints the measured errors', () => {
    console.log('max relative errors:', JSON.stringify(errors, null, 1));
  });
});
