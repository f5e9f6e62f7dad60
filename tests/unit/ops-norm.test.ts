import { afterAll, describe, expect, it } from 'vitest';
import { groupNorm } from '../../src/tensor/ops/group-norm.ts';
import { layerNorm } from '../../src/tensor/ops/layer-norm.ts';
import { silu } from '../../src/tensor/ops/silu.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward, checkpoint } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { maxRelError } from '../helpers/golden.ts';
import { checkGolden, finiteDifference, metaAndRealPeaks, note, printWorst, seeded, smallBindingRuntime, type Inputs } from './ops-pointwise-shared.ts';

const GROUP_NORM_CASES = ['c12g3_f1', 'c12g3_f3', 'c32g8_f1', 'c32g8_f3', 'c12g3_offset'];
const LAYER_NORM_CASES = ['affine', 'weight_only', 'plain'];

const gn = (xs: Inputs, meta: Record<string, unknown>) =>
  groupNorm(xs.x, xs.weight, xs.bias, { groups: meta.groups as number, eps: meta.eps as number, framesPerSample: meta.framesPerSample as number });
const ln = (xs: Inputs, meta: Record<string, unknown>) => layerNorm(xs.x, xs.weight ?? null, xs.bias ?? null, meta.eps as number);

afterAll(printWorst);

describe('group_norm', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`matches torch (frames per sample 1 and 3, C=12/3 groups, C=32/8 groups, eps 1e-5 and 1e-6), ${dtype}`, async () => {
      const rt = await testRuntime();
      for (const c of GROUP_NORM_CASES) await checkGolden(rt, 'group_norm', c, dtype, gn);
    });
  }

  it('pools the frames of a sample: framesPerSample 3 differs from per-frame statistics', async () => {
    const rt = await testRuntime();
    const x = Tensor.fromArray(rt, seeded(6 * 4 * 5, 3).map((v, i) => v + (i % 20 < 10 ? i / 40 : 0)), [6, 4, 5, 1]);
    const w = Tensor.fromArray(rt, [1, 1, 1, 1], [4]);
    const b = Tensor.fromArray(rt, [0, 0, 0, 0], [4]);
    const pooled = await groupNorm(x, w, b, { groups: 2, framesPerSample: 3 }).toArray();
    const perFrame = await groupNorm(x, w, b, { groups: 2 }).toArray();
    expect(pooled).not.toEqual(perFrame);
    // Each (sample, group) over all three frames has mean 0 and variance 1 (up to eps).
    for (let s = 0; s < 2; s++) {
      for (let g = 0; g < 2; g++) {
        const vals: number[] = [];
        for (let f = 0; f < 3; f++) for (let c = 2 * g; c < 2 * g + 2; c++) for (let k = 0; k < 5; k++) vals.push(pooled[(((s * 3 + f) * 4 + c) * 5) + k]);
        const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
        const variance = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / vals.length;
        expect(Math.abs(mean)).toBeLessThan(1e-6);
        expect(variance).toBeCloseTo(1, 4);
      }
    }
  });

  it('stays accurate over large groups far from zero (12288 elements per group, mean 10, std 0.5)', async () => {
    const rt = await testRuntime();
    const [n, c, hw, frames, groups] = [6, 8, 32 * 32, 3, 2];
    const x = seeded(n * c * hw, 9).map((v) => 10 + 0.866 * v);
    const y = await groupNorm(Tensor.fromArray(rt, x, [n, c, 32, 32]), Tensor.fromArray(rt, new Float32Array(c).fill(1), [c]), Tensor.fromArray(rt, new Float32Array(c), [c]), {
      groups,
      eps: 1e-6,
      framesPerSample: frames,
    }).toArray();
    // float64 reference, two passes.
    const expected = new Float64Array(x.length);
    const cg = c / groups;
    for (let b = 0; b < n / frames; b++) {
      for (let g = 0; g < groups; g++) {
        const idx: number[] = [];
        for (let f = 0; f < frames; f++) for (let ch = g * cg; ch < (g + 1) * cg; ch++) for (let k = 0; k < hw; k++) idx.push(((b * frames + f) * c + ch) * hw + k);
        const mean = idx.reduce((a, i) => a + x[i], 0) / idx.length;
        const variance = idx.reduce((a, i) => a + (x[i] - mean) ** 2, 0) / idx.length;
        for (const i of idx) expected[i] = (x[i] - mean) / Math.sqrt(variance + 1e-6);
      }
    }
    const err = maxRelError(y, expected);
    note('group_norm large groups', err);
    expect(err).toBeLessThan(1e-5);
  });

  it('agrees with finite differences (f32, tiny, frames pooled)', async () => {
    const rt = await testRuntime();
    const err = await finiteDifference(
      rt,
      { x: { data: seeded(2 * 4 * 3, 1), shape: [2, 4, 3, 1] }, weight: { data: seeded(4, 2).map((v) => 1 + v / 2), shape: [4] }, bias: { data: seeded(4, 3), shape: [4] } },
      (xs) => groupNorm(xs.x, xs.weight, xs.bias, { groups: 2, eps: 1e-5, framesPerSample: 2 }),
    );
    note('group_norm finite-diff', err);
    expect(err).toBeLessThan(1e-2);
  });

  it('splits rows across bindings when x passes maxStorageBufferBindingSize', async () => {
    // 1 KiB: the per-row statistics (N * C * 8 bytes) are still bound whole.
    const { rt, dispatches } = await smallBindingRuntime(1024);
    await checkGolden(rt, 'group_norm', 'c12g3_f3', 'f32', gn);
    await checkGolden(rt, 'group_norm', 'c32g8_f1', 'f16', gn);
    expect(dispatches()).toBeGreaterThan(20);
  });

  it('gives the same gradients under gradient checkpointing', async () => {
    const rt = await testRuntime();
    const grads: Float32Array[][] = [];
    for (const checkpointed of [false, true]) {
      const x = keep(Tensor.fromArray(rt, seeded(6 * 4 * 9, 12), [6, 4, 3, 3]));
      const w = keep(Tensor.fromArray(rt, seeded(4, 13).map((v) => 1 + v), [4]));
      const b = keep(Tensor.fromArray(rt, seeded(4, 14), [4]));
      for (const t of [x, w, b]) t.requiresGrad = true;
      const block = (t: Tensor) => layerNorm(silu(groupNorm(t, w, b, { groups: 2, framesPerSample: 3 })), null, null);
      scope(() => backward(checkpointed ? checkpoint(block, x) : block(x), Tensor.fromArray(rt, seeded(216, 15), [6, 4, 3, 3])));
      grads.push(await Promise.all([x, w, b].map((t) => t.grad!.toArray())));
      for (const t of [x, w, b]) (t.grad!.dispose(), t.dispose());
    }
    grads[1].forEach((g, i) => expect(maxRelError(g, grads[0][i])).toBeLessThan(1e-6));
  });

  it('plans the same ledger peak on the meta device as on the GPU', async () => {
    const [real, meta] = await metaAndRealPeaks((rt) => {
      const x = Tensor.empty(rt, [6, 12, 5, 7], 'f16', 'activations', 'x');
      const w = Tensor.empty(rt, [12], 'f32', 'weights', 'w');
      const b = Tensor.empty(rt, [12], 'f32', 'weights', 'b');
      for (const t of [x, w, b]) t.requiresGrad = true;
      backward(groupNorm(x, w, b, { groups: 3, framesPerSample: 3 }));
      for (const t of [x, w, b]) t.grad?.dispose();
    });
    expect(meta).toBe(real);
  });
});

describe('layer_norm', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`matches torch (affine, weight only, plain; C = 7, 67, 33), ${dtype}`, async () => {
      const rt = await testRuntime();
      for (const c of LAYER_NORM_CASES) await checkGolden(rt, 'layer_norm', c, dtype, ln);
    });
  }

  it('agrees with finite differences (f32, tiny)', async () => {
    const rt = await testRuntime();
    const err = await finiteDifference(
      rt,
      { x: { data: seeded(3 * 5, 4), shape: [3, 5] }, weight: { data: seeded(5, 5).map((v) => 1 + v / 2), shape: [5] }, bias: { data: seeded(5, 6), shape: [5] } },
      (xs) => layerNorm(xs.x, xs.weight, xs.bias, 1e-5),
    );
    note('layer_norm finite-diff', err);
    expect(err).toBeLessThan(1e-2);
  });

  it('splits rows across bindings when x passes maxStorageBufferBindingSize', async () => {
    const { rt, dispatches } = await smallBindingRuntime(512);
    await checkGolden(rt, 'layer_norm', 'affine', 'f32', ln);
    await checkGolden(rt, 'layer_norm', 'plain', 'f16', ln);
    expect(dispatches()).toBeGreaterThan(4);
  });

  it('plans the same ledger peak on the meta device as on the GPU', async () => {
    const [real, meta] = await metaAndRealPeaks((rt) => {
      const x = Tensor.empty(rt, [4, 9, 40], 'f32', 'activations', 'x');
      const w = Tensor.empty(rt, [40], 'f16', 'weights', 'w');
      const b = Tensor.empty(rt, [40], 'f16', 'weights', 'b');
      for (const t of [x, w, b]) t.requiresGrad = true;
      backward(layerNorm(x, w, b));
      for (const t of [x, w, b]) t.grad?.dispose();
    });
    expect(meta).toBe(real);
  });
});
