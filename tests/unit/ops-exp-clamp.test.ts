import { describe, expect, it } from 'vitest';
import { clamp } from '../../src/tensor/ops/clamp.ts';
import { exp } from '../../src/tensor/ops/exp.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose } from '../helpers/golden.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';

const xs = Float32Array.from({ length: 301 }, (_, i) => (i - 150) / 20);

describe('exp and clamp (the VAE posterior)', () => {
  it('match the host in value and gradient, in chunks too', async () => {
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 512;
    const x = keep(Tensor.fromArray(rt, xs, [301]));
    x.requiresGrad = true;
    const y = scope(() => {
      const out = exp(clamp(x, -2, 3));
      backward(out);
      return out;
    });
    const want = xs.map((v) => Math.exp(Math.min(3, Math.max(-2, v))));
    expectClose(await y.toArray(), want, 1e-6, 'exp(clamp(x))');
    expectClose(await x.grad!.toArray(), want.map((v, i) => (xs[i] >= -2 && xs[i] <= 3 ? v : 0)), 1e-6, 'gradient');
  });

  it('record the same ledger peak on the meta device', async () => {
    const peaks: number[] = [];
    for (const rt of [await testRuntime({ pooling: false }), await metaRuntime({ pooling: false })]) {
      const x = keep(Tensor.empty(rt, [4096]));
      x.requiresGrad = true;
      scope(() => backward(exp(clamp(x, -30, 20))));
      await rt.sync();
      peaks.push(rt.ledger.snapshot().peak);
    }
    expect(peaks[0]).toBe(peaks[1]);
  });
});
