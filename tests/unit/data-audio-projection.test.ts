// The learned projection of per-frame log-mel tokens to the cross-attention width, on Dawn.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { AudioProjection, audioProjectionFor } from '../../src/nn/audio-projection.ts';
import { mseLoss } from '../../src/nn/ops.ts';
import { scope } from '../../src/tensor/scope.ts';
import { backward } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testRuntime } from '../helpers/gpu.ts';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime({ pooling: false });
});

describe('AudioProjection', () => {
  it('is needed for log-mel tokens and for encoder states of another width', () => {
    expect(audioProjectionFor('logmel', [20, 80], 384)).toBeInstanceOf(AudioProjection);
    expect(audioProjectionFor('encoder', [50, 384], 384)).toBeNull();
    const p = audioProjectionFor('encoder', [50, 16], 32)!;
    expect([p.inDim, p.tokens, p.dim]).toEqual([16, 50, 32]);
    const names = new Map([...new AudioProjection(80, 20, 384).namedParameters()].map(([n, q]) => [n, q.shape]));
    expect(names).toEqual(new Map([['proj.weight', [384, 80]], ['proj.bias', [384]], ['position_embedding', [20, 384]]]));
  });

  it('computes x W^T + b + position per token, and trains', async () => {
    const [n, tokens, inDim, dim] = [3, 4, 5, 6];
    const m = new AudioProjection(inDim, tokens, dim).materialize(rt, { seed: 1 });
    const xs = Float32Array.from({ length: n * tokens * inDim }, (_, i) => Math.sin(i * 0.7));
    const [w, b, pos] = await Tensor.readAll([m.proj.weight.t, m.proj.bias!.t, m.positionEmbedding.t]);
    expect(Math.max(...pos!.map(Math.abs))).toBeLessThanOrEqual(0.02);
    const y = await scope(() => m.forward(Tensor.fromArray(rt, xs, [n, tokens, inDim]))).toArray();
    for (let s = 0; s < n; s++) for (let t = 0; t < tokens; t++) for (let o = 0; o < dim; o++) {
      let acc = b![o]! + pos![t * dim + o]!;
      for (let i = 0; i < inDim; i++) acc += xs[(s * tokens + t) * inDim + i]! * w![o * inDim + i]!;
      expect(y[(s * tokens + t) * dim + o]).toBeCloseTo(acc, 5);
    }
    scope(() => backward(mseLoss(m.forward(Tensor.fromArray(rt, xs, [n, tokens, inDim])), Tensor.fromArray(rt, new Float32Array(n * tokens * dim), [n, tokens, dim]))));
    for (const p of m.parameters()) expect(p.grad, 'every parameter gets a gradient').not.toBeNull();
    expect(() => m.forward(Tensor.fromArray(rt, new Float32Array(8), [2, 4]))).toThrow(/takes \[N, 4, 5\]/);
  });
});
