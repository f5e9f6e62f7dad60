import { describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { DType } from '../../src/tensor/dtype.ts';
import { softmax } from '../../src/tensor/ops/softmax.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose, loadGolden, maxRelError } from '../helpers/golden.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';

// Tolerances. f32 storage: forward 1e-5, gradients 1e-4 (relative to the reference's max). f16 storage:
// the reference runs on the f16-rounded inputs; our output is stored as f16 (half an ulp: 2^-11 relative)
// and backward reads that rounded output, so forward 1e-3. Gradients 5e-3: with near one-hot rows (logits
// of scale 30) gx = y * (gy - sum(gy * y)) is small next to gy, and the f16 rounding of y (2^-11 of gy's
// scale) becomes ~2e-3 of gx's scale; torch on a saved f16 output has the same error.
const TOL = { f32: { y: 1e-5, g: 1e-4 }, f16: { y: 1e-3, g: 5e-3 } };

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

describe('softmax', () => {
  for (const dtype of ['f32', 'f16']) {
    it(`matches torch (${dtype})`, async () => {
      for (const c of ['2x3x7_s1', '5x33_s4', '2x700_s1', '3x13_s30']) await checkGolden('softmax', `${c}_${dtype}`, ['x'], (x) => softmax(x));
    });
  }

  it('gradients agree with finite differences', async () => {
    const rt = await testRuntime();
    const err = await checkFiniteDifferences(rt, [{ data: rand(10, 4).map((v) => v * 4), shape: [2, 5] }], (x) => softmax(x));
    note('softmax finite differences', err);
    expect(err).toBeLessThan(1e-3);
  });

  it('handles rows past the binding size in chunks of whole rows', async () => {
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 1024; // 256 f32: 19 rows of 7 per binding, unaligned row starts
    const data = rand(60 * 7, 9).map((v) => v * 6);
    const x = Tensor.fromArray(rt, data, [60, 7], 'f16');
    x.requiresGrad = true;
    const y = softmax(x);
    const half = await x.toArray();
    const expected = new Float32Array(half.length);
    for (let r = 0; r < 60; r++) {
      const row = half.slice(r * 7, r * 7 + 7);
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      e.forEach((v, j) => (expected[r * 7 + j] = v / s));
    }
    expectClose(await y.toArray(), expected, 1e-3, 'chunked softmax (f16)');
    const gy = rand(60 * 7, 10);
    backward(y, Tensor.fromArray(rt, gy, [60, 7]));
    const yv = await y.toArray();
    const gexp = new Float32Array(gy.length);
    for (let r = 0; r < 60; r++) {
      let dot = 0;
      for (let j = 0; j < 7; j++) dot += yv[r * 7 + j] * gy[r * 7 + j];
      for (let j = 0; j < 7; j++) gexp[r * 7 + j] = yv[r * 7 + j] * (gy[r * 7 + j] - dot);
    }
    expectClose(await x.grad!.toArray(), gexp, 1e-5, 'chunked softmax grad');
  });

  it('records the same ledger peak on the meta device', async () => {
    const peaks: number[] = [];
    for (const rt of [await testRuntime({ pooling: false }), await metaRuntime({ pooling: false })]) {
      scope(() => {
        const x = keep(Tensor.empty(rt, [30, 77], 'f16', 'weights', 'x'));
        x.requiresGrad = true;
        backward(softmax(x));
      });
      await rt.sync();
      peaks.push(rt.ledger.snapshot().peak);
    }
    expect(peaks[1]).toBe(peaks[0]);
  });

  it('prints the measured errors', () => {
    console.log('max relative errors:', JSON.stringify(errors, null, 1));
  });
});
