import { describe, expect, it } from 'vitest';
import { mseLoss } from '../../src/tensor/ops/mse-loss.ts';
import { mean, sum } from '../../src/tensor/ops/reduce.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose } from '../helpers/golden.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';
import { checkFiniteDifferences, errorLog, goldenChecker, rand } from '../helpers/op-checks.ts';

// Tolerances. f32 storage: forward 1e-5, gradients 1e-4 (relative to the reference's max). f16 storage:
// the reference runs on the f16-rounded inputs, and our output is stored as f16 (half an ulp: 2^-11 relative),
// so forward 1e-3; gradients are f32 but come from f16 inputs: 1e-3.
const TOL = { f32: { y: 1e-5, g: 1e-4 }, f16: { y: 1e-3, g: 1e-3 } };

const { errors, note } = errorLog();
const checkGolden = goldenChecker(TOL, note);

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
