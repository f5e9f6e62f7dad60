import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16 } from '../../src/io/dtype.ts';
import { cast } from '../../src/tensor/ops/cast.ts';
import { full } from '../../src/tensor/ops/fill.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward, checkpoint, zeroGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';

const seq = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 3);

describe('tensor core', () => {
  it('round-trips f32 and f16 storage through the GPU', async () => {
    const rt = await testRuntime();
    const data = seq(1001);
    const a = Tensor.fromArray(rt, data, [7, 11, 13]);
    expect(await a.toArray()).toEqual(data);
    const h = cast(a, 'f16');
    expect(h.bytes).toBe(Math.ceil(1001 / 2) * 4);
    const back = await cast(h, 'f32').toArray();
    const rounded = data.map((v) => f16ToF32(f32ToF16(v)));
    expect(back).toEqual(rounded);
    expect(await Tensor.fromArray(rt, data, [1001], 'f16').toArray()).toEqual(rounded);
  });

  it('casts in chunks when a tensor passes maxStorageBufferBindingSize', async () => {
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 1024; // 256 f32 elements per binding
    const data = seq(3000);
    const h = cast(Tensor.fromArray(rt, data, [3000]), 'f16');
    expect(await cast(h, 'f32').toArray()).toEqual(data.map((v) => f16ToF32(f32ToF16(v))));
  });

  it('scope frees what it made and keeps what it returns', async () => {
    const rt = await testRuntime({ pooling: false });
    const before = rt.ledger.snapshot().live;
    const kept = scope(() => {
      full(rt, [64], 1);
      const b = full(rt, [64], 2);
      return b.alias([8, 8]);
    });
    expect(rt.ledger.snapshot().live - before).toBe(256);
    expect(await kept.toArray()).toEqual(new Float32Array(64).fill(2));
    kept.dispose();
    expect(rt.ledger.snapshot().live).toBe(before);
  });

  it('accumulates leaf gradients across backward calls until zeroGrad, through checkpoint too', async () => {
    const rt = await testRuntime();
    const p = keep(Tensor.fromArray(rt, seq(10), [10], 'f32', 'weights', 'p'));
    p.requiresGrad = true;
    // y = cast(cast(p, f16), f32): d y / d p = 1 everywhere.
    for (let i = 0; i < 2; i++) scope(() => backward(cast(cast(p, 'f16'), 'f32')));
    expect(await p.grad!.toArray()).toEqual(new Float32Array(10).fill(2));
    scope(() => backward(checkpoint((x) => cast(cast(x, 'f16'), 'f32'), p)));
    expect(await p.grad!.toArray()).toEqual(new Float32Array(10).fill(3));
    zeroGrad([p]);
    expect(await p.grad!.toArray()).toEqual(new Float32Array(10).fill(0));
  });

  it('runs the same code on the meta device with the same ledger events', async () => {
    const peaks: number[] = [];
    for (const rt of [await testRuntime({ pooling: false }), await metaRuntime({ pooling: false })]) {
      const p = keep(Tensor.empty(rt, [1000], 'f32', 'weights', 'p'));
      p.requiresGrad = true;
      scope(() => backward(cast(cast(p, 'f16'), 'f32')));
      await rt.sync();
      peaks.push(rt.ledger.snapshot().peak);
    }
    expect(peaks[0]).toBe(peaks[1]);
  });
});
