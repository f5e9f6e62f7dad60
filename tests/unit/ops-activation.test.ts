import { afterAll, describe, expect, it } from 'vitest';
import { geglu } from '../../src/tensor/ops/geglu.ts';
import { gelu, type GeluForm } from '../../src/tensor/ops/gelu.ts';
import { scale } from '../../src/tensor/ops/scale.ts';
import { silu } from '../../src/tensor/ops/silu.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { checkGolden, finiteDifference, metaAndRealPeaks, note, printWorst, seeded, smallBindingRuntime } from './ops-pointwise-shared.ts';

const form = (meta: Record<string, unknown>) => meta.approximate as GeluForm;

afterAll(printWorst);

describe('activations', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`silu, gelu (erf, tanh), geglu (erf, tanh) and scale match torch, ${dtype}`, async () => {
      const rt = await testRuntime();
      await checkGolden(rt, 'silu', 'odd', dtype, (xs) => silu(xs.x));
      for (const f of ['erf', 'tanh']) {
        await checkGolden(rt, 'gelu', f, dtype, (xs, meta) => gelu(xs.x, form(meta)));
        await checkGolden(rt, 'geglu', f, dtype, (xs, meta) => geglu(xs.x, form(meta)));
      }
      await checkGolden(rt, 'scale', 'odd', dtype, (xs, meta) => scale(xs.x, meta.s as number));
    });
  }

  it('stay finite and exact in the tails (|x| up to 100)', async () => {
    const rt = await testRuntime();
    const xs = [-100, -30, -12, -6, 6, 12, 30, 100];
    const x = Tensor.fromArray(rt, xs, [xs.length]);
    const phi = (v: number) => 0.5 * erfc(-v / Math.SQRT2);
    const cases: Array<[Tensor, (v: number) => number]> = [
      [silu(x), (v) => v / (1 + Math.exp(-v))],
      [gelu(x, 'erf'), (v) => v * phi(v)],
      [gelu(x, 'tanh'), (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))],
    ];
    for (const [y, ref] of cases) {
      const got = await y.toArray();
      got.forEach((v, i) => expect(Math.abs(v - ref(xs[i])), `x = ${xs[i]}: ${v}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(xs[i]))));
    }
  });

  it('agree with finite differences (f32, tiny)', async () => {
    const rt = await testRuntime();
    const x = { data: seeded(12, 7).map((v) => 3 * v), shape: [3, 4] };
    for (const [name, op] of [
      ['silu', (t: Tensor) => silu(t)],
      ['gelu erf', (t: Tensor) => gelu(t, 'erf')],
      ['gelu tanh', (t: Tensor) => gelu(t, 'tanh')],
      ['geglu erf', (t: Tensor) => geglu(t, 'erf')],
      ['geglu tanh', (t: Tensor) => geglu(t, 'tanh')],
      ['scale', (t: Tensor) => scale(t, -1.5)],
    ] as const) {
      const err = await finiteDifference(rt, { x }, (xs) => op(xs.x));
      note(`${name} finite-diff`, err);
      expect(err, name).toBeLessThan(1e-2);
    }
  });

  it('split flat ranges and geglu rows across bindings past maxStorageBufferBindingSize', async () => {
    const { rt, dispatches } = await smallBindingRuntime(512);
    await checkGolden(rt, 'silu', 'odd', 'f16', (xs) => silu(xs.x));
    await checkGolden(rt, 'gelu', 'erf', 'f32', (xs) => gelu(xs.x, 'erf'));
    await checkGolden(rt, 'geglu', 'tanh', 'f32', (xs) => geglu(xs.x, 'tanh'));
    expect(dispatches()).toBeGreaterThan(10);
  });

  it('plan the same ledger peak on the meta device as on the GPU', async () => {
    const [real, meta] = await metaAndRealPeaks((rt) => {
      const x = Tensor.empty(rt, [3, 5, 40], 'f16', 'activations', 'x');
      x.requiresGrad = true;
      backward(scale(silu(gelu(geglu(x), 'tanh')), 0.5));
      x.grad?.dispose();
    });
    expect(meta).toBe(real);
  });
});

/** erfc in double (W. J. Cody's rational approximations are overkill here: a continued fraction and a series). */
function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 3) {
    // erf series: 2/sqrt(pi) * sum (-1)^n z^(2n+1) / (n! (2n+1))
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Continued fraction (Lentz), good for z >= 3.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (z + f);
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
}
