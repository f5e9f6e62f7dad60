import { afterAll, describe, expect, it } from 'vitest';
import { broadcastShapes, coalesce, planAffine, stridesOf, touched, windowBytes } from '../../src/tensor/broadcast.ts';
import { add, addScaled, sumToShape } from '../../src/tensor/ops/add.ts';
import { concat } from '../../src/tensor/ops/concat.ts';
import { mul } from '../../src/tensor/ops/mul.ts';
import { slice } from '../../src/tensor/ops/slice.ts';
import { upsampleNearest2x } from '../../src/tensor/ops/upsample.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { maxRelError } from '../helpers/golden.ts';
import { checkGolden, finiteDifference, metaAndRealPeaks, note, printWorst, seeded, smallBindingRuntime, type Inputs } from './ops-pointwise-shared.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';

const BINARY_CASES = ['same', 'temb', 'channel', 'both', 'rank', 'lhs'];
const addOp = (xs: Inputs, meta: Record<string, unknown>) => (meta.alpha === 1 ? add(xs.a, xs.b) : addScaled(xs.a, xs.b, meta.alpha as number));
const mulOp = (xs: Inputs) => mul(xs.a, xs.b);
const concatOp = (xs: Inputs, meta: Record<string, unknown>) => concat(Array.from({ length: meta.count as number }, (_, i) => xs[`x${i}`]), meta.dim as number);
const sliceOp = (xs: Inputs, meta: Record<string, unknown>) => slice(xs.x, meta.dim as number, meta.start as number, meta.end as number);

async function allGoldens(rt: GpuRuntime, dtype: 'f32' | 'f16') {
  for (const c of BINARY_CASES) {
    await checkGolden(rt, 'add', c, dtype, addOp);
    await checkGolden(rt, 'mul', c, dtype, mulOp);
  }
  for (const c of ['dim1', 'last', 'dim0']) {
    await checkGolden(rt, 'concat', c, dtype, concatOp);
    await checkGolden(rt, 'slice', c, dtype, sliceOp);
  }
  await checkGolden(rt, 'upsample', 'odd', dtype, (xs) => upsampleNearest2x(xs.x));
}

afterAll(printWorst);

describe('index maps (host)', () => {
  it('broadcasts like numpy and coalesces contiguous dims', () => {
    expect(broadcastShapes([2, 3, 4, 5], [2, 3, 1, 1])).toEqual([2, 3, 4, 5]);
    expect(broadcastShapes([3, 1, 5], [4, 1])).toEqual([3, 4, 5]);
    expect(broadcastShapes([7], [2, 1, 1])).toEqual([2, 1, 7]);
    expect(() => broadcastShapes([2, 3], [4, 3])).toThrow(RangeError);
    // [N, C, H, W] + [N, C, 1, 1]: the output walks (N C) x (H W), the bias repeats along H W.
    expect(coalesce([2, 3, 4, 5], [[0 + 3, 1, 0, 0], [60, 20, 5, 1]])).toEqual({ shape: [6, 20], strides: [[1, 0], [20, 1]] });
    expect(coalesce([1, 1], [[0, 0]])).toEqual({ shape: [1], strides: [[0]] });
  });

  it('finds exactly the elements a flat range touches, and plans windows that fit', () => {
    const rand = seeded(4000, 11);
    let r = 0;
    const next = (n: number) => Math.floor(((rand[r++ % rand.length] + 1) / 2) * n);
    for (let trial = 0; trial < 200; trial++) {
      const rank = 1 + next(4);
      const shape = Array.from({ length: rank }, () => 1 + next(5));
      const stride = shape.map(() => next(7));
      const total = shape.reduce((a, b) => a * b, 1);
      const s = next(total);
      const e = s + 1 + next(total - s);
      let lo = Infinity;
      let hi = -Infinity;
      const own = stridesOf(shape);
      for (let o = s; o < e; o++) {
        const idx = shape.reduce((acc, n, d) => acc + (Math.floor(o / own[d]) % n) * stride[d], 0);
        lo = Math.min(lo, idx);
        hi = Math.max(hi, idx);
      }
      expect(touched(shape, stride, s, e), `${shape} ${stride} [${s}, ${e})`).toEqual([lo, hi]);
    }
    // A broadcast operand whose windows would wrap around: chunks split on the outer boundary.
    const shape = [4, 3000];
    const chunks = planAffine(shape, [{ dtype: 'f32', stride: [0, 1], offset: 0 }, { dtype: 'f32', stride: [3000, 1], offset: 0 }], 4096);
    expect(chunks.reduce((n, c) => n + c.count, 0)).toBe(12000);
    for (const c of chunks) for (const [lo, hi] of c.ranges) expect(windowBytes('f32', lo, hi)).toBeLessThanOrEqual(4096);
  });
});

describe('add, mul, concat, slice, upsample', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`match torch (broadcasting [N,C,H,W] with [N,C,1,1], [1,C,1,1], both sides, lower rank), ${dtype}`, async () => {
      await allGoldens(await testRuntime(), dtype);
    });
  }

  it('sum gradients when one tensor is both inputs (x + x, x * x)', async () => {
    const rt = await testRuntime();
    const data = seeded(6, 5);
    const x = keep(Tensor.fromArray(rt, data, [2, 3]));
    x.requiresGrad = true;
    scope(() => backward(add(x, mul(x, x))));
    const g = await x.grad!.toArray();
    g.forEach((v, i) => expect(v).toBeCloseTo(1 + 2 * data[i], 6));
    // Only one input requires grad: mul keeps only the other one.
    const c = Tensor.fromArray(rt, [2, -3, 0.5], [3]);
    x.grad!.dispose();
    x.grad = null;
    scope(() => backward(mul(c, x)));
    expect(await x.grad!.toArray()).toEqual(new Float32Array([2, -3, 0.5, 2, -3, 0.5]));
  });

  it('agree with finite differences (f32, tiny, broadcasting)', async () => {
    const rt = await testRuntime();
    const a = { data: seeded(2 * 3 * 2, 1), shape: [2, 3, 2] };
    const b = { data: seeded(3, 2), shape: [3, 1] };
    const c = { data: seeded(2 * 2 * 2, 3), shape: [2, 2, 2] };
    for (const [name, inputs, op] of [
      ['add', { a, b }, (xs: Inputs) => addScaled(xs.a, xs.b, -0.5)],
      ['mul', { a, b }, (xs: Inputs) => mul(xs.a, xs.b)],
      ['concat', { a, c }, (xs: Inputs) => concat([xs.a, xs.c], 1)],
      ['slice', { a }, (xs: Inputs) => slice(xs.a, 1, 1, 3)],
      ['upsample', { a }, (xs: Inputs) => upsampleNearest2x(xs.a)],
    ] as const) {
      const err = await finiteDifference(rt, inputs, op);
      note(`${name} finite-diff`, err);
      expect(err, name).toBeLessThan(1e-2);
    }
  });

  it('split every binding past maxStorageBufferBindingSize (broadcast windows, reductions, strided copies)', async () => {
    const { rt, dispatches } = await smallBindingRuntime(512);
    await allGoldens(rt, 'f32');
    await checkGolden(rt, 'mul', 'channel', 'f16', mulOp);
    expect(dispatches()).toBeGreaterThan(50);
  });

  it('sums to broadcast shapes and adds repeated operands in windows that each fit a binding', async () => {
    const { rt } = await smallBindingRuntime(512);
    const shape = [5, 7, 9, 3];
    const data = seeded(5 * 7 * 9 * 3, 21);
    const g = Tensor.fromArray(rt, data, shape);
    const at = (i: number[]) => data[((i[0] * 7 + i[1]) * 9 + i[2]) * 3 + i[3]];
    for (const target of [[1, 7, 1, 3], [5, 1, 9, 1], [1], [9, 3], [5, 7, 9, 1]]) {
      const full = [...new Array(4 - target.length).fill(1), ...target];
      const expected = new Float64Array(target.reduce((a, b) => a * b, 1));
      for (let a = 0; a < 5; a++) for (let b = 0; b < 7; b++) for (let c = 0; c < 9; c++) for (let d = 0; d < 3; d++) {
        const k = [a, b, c, d].map((v, dim) => (full[dim] === 1 ? 0 : v));
        expected[((k[0] * full[1] + k[1]) * full[2] + k[2]) * full[3] + k[3]] += at([a, b, c, d]) * 0.5;
      }
      const got = await sumToShape(g, target, 0.5).toArray();
      expect(maxRelError(got, expected), `[${shape}] -> [${target}]`).toBeLessThan(1e-5);
    }
    // [4, 300] + [300]: the repeated operand's windows would wrap around without outer-boundary splits.
    const a = seeded(1200, 22);
    const b = seeded(300, 23);
    const y = await add(Tensor.fromArray(rt, a, [4, 300]), Tensor.fromArray(rt, b, [300])).toArray();
    expect(y).toEqual(Float32Array.from(a, (v, i) => Math.fround(v + b[i % 300])));
  });

  it('plan the same ledger peak on the meta device as on the GPU', async () => {
    const [real, meta] = await metaAndRealPeaks((rt) => {
      const x = Tensor.empty(rt, [2, 3, 5, 7], 'f16', 'activations', 'x');
      const t = Tensor.empty(rt, [2, 3, 1, 1], 'f32', 'activations', 't');
      const w = Tensor.empty(rt, [1, 3, 1, 1], 'f32', 'weights', 'w');
      for (const v of [x, t, w]) v.requiresGrad = true;
      const h = mul(add(x, t), w);
      const y = upsampleNearest2x(concat([h, slice(h, 1, 1, 3)], 1));
      backward(y);
      for (const v of [x, t, w]) v.grad?.dispose();
    });
    expect(meta).toBe(real);
  });
});
