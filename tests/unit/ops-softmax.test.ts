import { describe, expect, it } from 'vitest';
import { softmax } from '../../src/tensor/ops/softmax.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose } from '../helpers/golden.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';
import { checkFiniteDifferences, errorLog, goldenChecker, rand } from '../helpers/op-checks.ts';

// Tolerances. f32 storage: forward 1e-5, gradients 1e-4 (relative to the reference's max). f16 storage:
// the reference runs on the f16-rounded inputs; our output is stored as f16 (half an ulp: 2^-11 relative)
// and backward reads that rounded output, so forward 1e-3. Gradients 5e-3: with near one-hot rows (logits
// of scale 30) gx = y * (gy - sum(gy * y)) is small next to gy, and the f16 rounding of y (2^-11 of gy's
// scale) becomes ~2e-3 of gx's scale; torch on a saved f16 output has the same error.
const TOL = { f32: { y: 1e-5, g: 1e-4 }, f16: { y: 1e-3, g: 5e-3 } };

const { errors, note } = errorLog();
const checkGolden = goldenChecker(TOL, note);

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
