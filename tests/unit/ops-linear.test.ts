import { afterAll, describe, expect, it } from 'vitest';
import { linear } from '../../src/tensor/ops/linear.ts';
import { keep } from '../../src/tensor/scope.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { metaRuntime } from '../helpers/gpu.ts';
import { checkFiniteDifferences, checkGolden, peakOf, peaksOnBothDevices, printWorst, sharedRuntime, withBindingLimit, withForcedSplitK } from './ops-linalg-shared.ts';

const CASES = ['x7x13_out5', 'x2x3x9_out6', 'x5x33_out7_nobias', 'x3x11x17_out13', 'f16_x2x3x9_out6'];
const run = (t: Record<string, Tensor>) => linear(t.x, t.weight, t.bias);

describe('linear', () => {
  afterAll(() => printWorst('linear'));

  for (const file of CASES) {
    it(`matches torch: ${file}`, async () => {
      await checkGolden(await sharedRuntime(), 'linear', file, ['x', 'weight', 'bias'], run);
    });
  }

  it('splits bindings past maxStorageBufferBindingSize (rows, and the depth of dweight)', async () => {
    // x3x11x17_out13: x is 33 rows of 68 bytes and gy 33 rows of 52; 1280 bytes bind about 15 rows at a time
    // (dweight splits its depth, the bias gradient its rows); the weight (884 bytes) stays whole.
    const rt = await sharedRuntime();
    const before = rt.dispatches;
    await withBindingLimit(rt, 1280, () => checkGolden(rt, 'linear', 'x3x11x17_out13', ['x', 'weight', 'bias'], run));
    expect(rt.dispatches - before).toBeGreaterThan(8);
  });

  it('splits the depth of dweight across workgroups (split-K) with the same results', async () => {
    const rt = await sharedRuntime();
    const splits = await withForcedSplitK(rt, async () => {
      for (const file of ['x3x11x17_out13', 'x5x33_out7_nobias']) await checkGolden(rt, 'linear', file, ['x', 'weight', 'bias'], run);
      // Split-K inside binding chunks too.
      await withBindingLimit(rt, 1280, () => checkGolden(rt, 'linear', 'x3x11x17_out13', ['x', 'weight', 'bias'], run));
    });
    expect(splits).toBeGreaterThanOrEqual(1);
  });

  it('refuses mismatched shapes', async () => {
    const rt = await sharedRuntime();
    expect(() => linear(Tensor.empty(rt, [2, 5]), Tensor.empty(rt, [3, 4]))).toThrow(/do not match/);
    expect(() => linear(Tensor.empty(rt, [2, 4]), Tensor.empty(rt, [3, 4]), Tensor.empty(rt, [4]))).toThrow(/bias/);
  });

  it('gradients agree with finite differences', async () => {
    await checkFiniteDifferences(await sharedRuntime(), { x: [2, 3, 4], weight: [5, 4], bias: [5] }, run);
  });

  it('plans the same peak on the meta device (chunked, split-K)', async () => {
    const { peaks, splits } = await peaksOnBothDevices(2048, (rt) => {
      const [x, w, b] = [[4, 9, 13], [7, 13], [7]].map((s, i) => keep(Tensor.empty(rt, s, i ? 'f32' : 'f16', 'weights')));
      x.requiresGrad = w.requiresGrad = b.requiresGrad = true;
      backward(linear(x, w, b));
      return [x, w, b];
    });
    expect(splits[0]).toBeGreaterThan(0);
    expect(splits[1]).toBe(splits[0]);
    expect(peaks[0]).toBeGreaterThan(0);
    expect(peaks[1]).toBe(peaks[0]);
  });

  it('plans real model sizes on the meta device: x [16, 4096, 640] f32 under a 128 MiB binding limit', async () => {
    const rt = await metaRuntime({ pooling: false });
    rt.limits.maxStorageBufferBindingSize = 128 * 1024 * 1024;
    const x = keep(Tensor.empty(rt, [16, 4096, 640], 'f32', 'activations', 'x')); // 168 MB: rows and depth split
    const w = keep(Tensor.empty(rt, [640, 640], 'f32', 'weights', 'w'));
    const b = keep(Tensor.empty(rt, [640], 'f32', 'weights', 'b'));
    x.requiresGrad = w.requiresGrad = b.requiresGrad = true;
    const peak = await peakOf(rt, () => backward(linear(x, w, b)));
    expect(peak).toBeGreaterThan(3 * x.bytes);
  });
});
