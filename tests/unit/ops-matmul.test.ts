import { afterAll, describe, expect, it } from 'vitest';
import { matmul } from '../../src/tensor/ops/matmul.ts';
import { keep } from '../../src/tensor/scope.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { loadGolden } from '../helpers/golden.ts';
import { checkFiniteDifferences, checkGolden, peaksOnBothDevices, printWorst, sharedRuntime, withBindingLimit, withForcedSplitK } from './ops-linalg-shared.ts';

const CASES = [
  'm7_k13_n33',
  'batch3_m5_k9_n6',
  'batch2_transA',
  'batch2_transB',
  'batch2_transAB',
  'batch2x3_broadcast_b',
  'batch3_broadcast_b_transA',
  'batch3_broadcast_b_transB',
  'broadcast_a_batch3',
  'big_batch3_m40_k33_n20',
  'f16_m7_k13_n33',
  'f16_batch2_transAB',
];

const run = (file: string) => (x: Record<string, Tensor>) => {
  const m = loadGolden(`ops/matmul/${file}.safetensors`).meta;
  return matmul(x.a, x.b, { transA: m.transA as boolean, transB: m.transB as boolean });
};

describe('matmul', () => {
  afterAll(() => printWorst('matmul'));

  for (const file of CASES) {
    it(`matches torch: ${file}`, async () => {
      await checkGolden(await sharedRuntime(), 'matmul', file, ['a', 'b'], run(file));
    });
  }

  it('splits bindings past maxStorageBufferBindingSize (batches, then rows)', async () => {
    for (const [file, limit] of [
      ['big_batch3_m40_k33_n20', 4096], // one batch of a (5280 bytes) does not fit: row blocks
      ['big_batch3_m40_k33_n20', 6144], // one batch fits, three do not
      ['batch3_broadcast_b_transA', 512], // the broadcast b's gradient sums batches in several parts
      ['broadcast_a_batch3', 512],
      ['batch2_transAB', 512],
    ] as const) {
      const rt = await sharedRuntime();
      const before = rt.dispatches;
      await withBindingLimit(rt, limit, () => checkGolden(rt, 'matmul', file, ['a', 'b'], run(file)));
      expect(rt.dispatches - before, `${file} at ${limit}`).toBeGreaterThan(3);
    }
  });

  it('splits deep products across workgroups (split-K) with the same results', async () => {
    const rt = await sharedRuntime();
    const splits = await withForcedSplitK(rt, async () => {
      for (const file of ['big_batch3_m40_k33_n20', 'batch2x3_broadcast_b', 'batch3_broadcast_b_transA', 'f16_m7_k13_n33']) {
        await checkGolden(rt, 'matmul', file, ['a', 'b'], run(file));
      }
    });
    expect(splits).toBeGreaterThanOrEqual(2);
  });

  it('refuses mismatched shapes', async () => {
    const rt = await sharedRuntime();
    const a = Tensor.empty(rt, [2, 3, 4]);
    expect(() => matmul(a, Tensor.empty(rt, [5, 6]))).toThrow(/inner sizes/);
    expect(() => matmul(a, Tensor.empty(rt, [3, 4, 6]))).toThrow(/batch dims/);
  });

  it('gradients agree with finite differences', async () => {
    const rt = await sharedRuntime();
    await checkFiniteDifferences(rt, { a: [2, 3, 4], b: [2, 5, 4] }, (x) => matmul(x.a, x.b, { transB: true }));
    await checkFiniteDifferences(rt, { a: [4, 3], b: [2, 4, 5] }, (x) => matmul(x.a, x.b, { transA: true }));
  });

  it('plans the same peak on the meta device (chunked, split-K)', async () => {
    // 1024 bytes: batch and row chunks, and no room for a split-K workspace; 1 MiB: split-K.
    for (const limit of [1024, 1 << 20]) {
      const { peaks, splits } = await peaksOnBothDevices(limit, (rt) => {
        const a = keep(Tensor.empty(rt, [3, 17, 9], 'f16', 'weights', 'a'));
        const b = keep(Tensor.empty(rt, [9, 11], 'f32', 'weights', 'b'));
        a.requiresGrad = b.requiresGrad = true;
        backward(matmul(a, b, { dtype: 'f16' }));
        return [a, b];
      });
      expect(splits[0] > 0, `split-K under a ${limit}-byte binding limit`).toBe(limit > 1024);
      expect(splits[1]).toBe(splits[0]);
      expect(peaks[0]).toBeGreaterThan(0);
      expect(peaks[1]).toBe(peaks[0]);
    }
  });
});
