import { afterAll, describe, expect, it } from 'vitest';
import { conv2d, type Padding2d } from '../../src/tensor/ops/conv2d.ts';
import { keep } from '../../src/tensor/scope.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { metaRuntime } from '../helpers/gpu.ts';
import { loadGolden } from '../helpers/golden.ts';
import { checkFiniteDifferences, checkGolden, peakOf, peaksOnBothDevices, printWorst, sharedRuntime, withBindingLimit, withForcedSplitK } from './ops-linalg-shared.ts';

const CASES = [
  'k3_s1_p1_n2_c3to5_9x11',
  'k3_s1_p0_n1_c4to6_7x8',
  'k3_s2_p1_n2_c4to3_9x11',
  'k3_s2_pad0101_n2_c3to5_9x11',
  'k3_s2_pad0101_n1_c6to6_8x8',
  'k1_s1_p0_n2_c6to5_5x7',
  'k1_s2_p0_n2_c5to3_7x9',
  'k3_s1_p1_n3_c7to9_6x5_nobias',
  'k3_s1_p1_n2_c33to35_5x6',
  'f16_k3_s1_p1_n2_c3to5_9x11',
  'f16_k3_s2_pad0101_n2_c3to5_9x11',
];

const run = (file: string) => (t: Record<string, Tensor>) => {
  const m = loadGolden(`ops/conv2d/${file}.safetensors`).meta;
  return conv2d(t.x, t.weight, t.bias, { stride: m.stride as 1 | 2, padding: m.padding as Padding2d });
};

describe('conv2d', () => {
  afterAll(() => printWorst('conv2d'));

  for (const file of CASES) {
    it(`matches torch: ${file}`, async () => {
      await checkGolden(await sharedRuntime(), 'conv2d', file, ['x', 'weight', 'bias'], run(file));
    });
  }

  it('splits the batch past maxStorageBufferBindingSize', async () => {
    // Limits that hold one image (c3to5 f32: x is 1188 bytes per image; f16: the f32 output, 1980 bytes) or two
    // of three (c7to9), with the weight still whole (bindings take up to 260 bytes of alignment slack).
    const rt = await sharedRuntime();
    for (const [file, limit] of [
      ['k3_s2_pad0101_n2_c3to5_9x11', 2048],
      ['k3_s1_p1_n3_c7to9_6x5_nobias', 2560],
      ['f16_k3_s1_p1_n2_c3to5_9x11', 2560],
    ] as const) {
      const before = rt.dispatches;
      await withBindingLimit(rt, limit, () => checkGolden(rt, 'conv2d', file, ['x', 'weight', 'bias'], run(file)));
      expect(rt.dispatches - before, file).toBeGreaterThanOrEqual(6);
    }
  });

  it('splits dweight across workgroups (split-K over images and pixels) with the same results', async () => {
    const rt = await sharedRuntime();
    const splits = await withForcedSplitK(rt, async () => {
      for (const file of ['k3_s1_p1_n2_c3to5_9x11', 'k3_s2_pad0101_n2_c3to5_9x11', 'k1_s1_p0_n2_c6to5_5x7', 'f16_k3_s1_p1_n2_c3to5_9x11']) {
        await checkGolden(rt, 'conv2d', file, ['x', 'weight', 'bias'], run(file));
      }
      // One image per binding chunk, each split (up to 3 slices fit a binding) and summed into dweight.
      const file = 'k3_s2_pad0101_n2_c3to5_9x11';
      await withBindingLimit(rt, 2048, () => checkGolden(rt, 'conv2d', file, ['x', 'weight', 'bias'], run(file)));
    });
    expect(splits).toBeGreaterThanOrEqual(6);
  });

  it('refuses what it does not support', async () => {
    const rt = await sharedRuntime();
    const x = Tensor.empty(rt, [1, 3, 8, 8]);
    expect(() => conv2d(x, Tensor.empty(rt, [4, 3, 5, 5]))).toThrow(/1x1 and 3x3/);
    expect(() => conv2d(x, Tensor.empty(rt, [4, 2, 3, 3]))).toThrow(/input channels/);
    expect(() => conv2d(x, Tensor.empty(rt, [4, 3, 3, 3]), null, { stride: 3 as 2 })).toThrow(/stride/);
  });

  it('gradients agree with finite differences', async () => {
    const rt = await sharedRuntime();
    const shapes = { x: [1, 2, 5, 4], weight: [3, 2, 3, 3], bias: [3] };
    await checkFiniteDifferences(rt, shapes, (t) => conv2d(t.x, t.weight, t.bias, { stride: 2, padding: [0, 1, 1, 0] }));
    await checkFiniteDifferences(rt, shapes, (t) => conv2d(t.x, t.weight, t.bias, { padding: 1 }));
  });

  it('plans the same peak on the meta device (chunked, split-K)', async () => {
    const { peaks, splits } = await peaksOnBothDevices(4096, (rt) => {
      const [x, w, b] = [[3, 4, 9, 7], [5, 4, 3, 3], [5]].map((s, i) => keep(Tensor.empty(rt, s, i ? 'f32' : 'f16', 'weights')));
      x.requiresGrad = w.requiresGrad = b.requiresGrad = true;
      backward(conv2d(x, w, b, { stride: 2, padding: 1, dtype: 'f16' }));
      return [x, w, b];
    });
    expect(splits[0]).toBeGreaterThan(0);
    expect(splits[1]).toBe(splits[0]);
    expect(peaks[0]).toBeGreaterThan(0);
    expect(peaks[1]).toBe(peaks[0]);
  });

  it('binds an image of exactly maxStorageBufferBindingSize (VAE at 512 px: [2, 128, 512, 512] f32, 128 MiB each)', async () => {
    const rt = await metaRuntime({ pooling: false });
    rt.limits.maxStorageBufferBindingSize = 128 * 1024 * 1024;
    const x = keep(Tensor.empty(rt, [2, 128, 512, 512], 'f32', 'activations', 'x'));
    const w = keep(Tensor.empty(rt, [128, 128, 3, 3], 'f32', 'weights', 'w'));
    const b = keep(Tensor.empty(rt, [128], 'f32', 'weights', 'b'));
    x.requiresGrad = w.requiresGrad = b.requiresGrad = true;
    expect(await peakOf(rt, () => backward(conv2d(x, w, b, { padding: 1 })))).toBeGreaterThan(3 * x.bytes);
    // One element more per image and an image no longer fits a binding.
    const big = keep(Tensor.empty(rt, [1, 128, 512, 513], 'f32', 'activations', 'big'));
    expect(() => conv2d(big, w, b, { padding: 1 })).toThrow(/does not fit a binding/);
  });

  it('plans real model sizes on the meta device: [16, 640, 64, 64] f32 under a 128 MiB binding limit', async () => {
    const rt = await metaRuntime({ pooling: false });
    rt.limits.maxStorageBufferBindingSize = 128 * 1024 * 1024;
    const x = keep(Tensor.empty(rt, [16, 640, 64, 64], 'f32', 'activations', 'x')); // 168 MB
    const w = keep(Tensor.empty(rt, [640, 640, 3, 3], 'f32', 'weights', 'w'));
    const b = keep(Tensor.empty(rt, [640], 'f32', 'weights', 'b'));
    x.requiresGrad = w.requiresGrad = b.requiresGrad = true;
    const down = keep(Tensor.empty(rt, [640, 640, 3, 3], 'f32', 'weights', 'down'));
    const peak = await peakOf(rt, () => {
      const y = conv2d(x, w, b, { padding: 1 });
      backward(conv2d(y, down, null, { stride: 2, padding: [0, 1, 0, 1] }));
    });
    // At least x, y, dy and dx of the first conv live at once.
    expect(peak).toBeGreaterThan(4 * x.bytes);
  });
});
