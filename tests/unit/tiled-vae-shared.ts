import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { getPreset } from '../../src/nn/presets.ts';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { scope } from '../../src/tensor/scope.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';

/** Shared by the tiled VAE tests: the tiny preset with seeded weights, seeded inputs, and comparisons. */
export const tinyVae = (rt: GpuRuntime, seed = 7): AutoencoderKL =>
  new AutoencoderKL(getPreset('vae-tiny').config).materialize(rt, { seed, requiresGrad: false });

/** Deterministic values in about [-amp, amp] (a cheap LCG: the tests need variety, not quality). */
export function seeded(n: number, seed: number, amp = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * amp;
  });
}

export const input = (rt: GpuRuntime, shape: number[], seed: number): Tensor =>
  Tensor.fromArray(rt, seeded(shape.reduce((a, b) => a * b, 1), seed), shape, 'f32', 'data', 'test input');

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * model.decode on the GPU, with its peak above what was held before it. Pooling is off meanwhile, so the
 * peak counts live buffers only: the least budget the untiled decode can run in.
 */
export async function untiledDecode(rt: GpuRuntime, vae: AutoencoderKL, latents: Tensor): Promise<{ values: Float32Array; peak: number }> {
  rt.ledger.trim();
  const held0 = rt.ledger.held;
  const pooling = rt.ledger.pooling;
  rt.ledger.pooling = false;
  rt.ledger.resetPeaks();
  try {
    const y = scope(() => noGrad(() => vae.decode(latents)));
    const peak = rt.ledger.snapshot().peak - held0;
    const values = await y.toArray();
    y.dispose();
    return { values, peak };
  } finally {
    rt.ledger.pooling = pooling;
  }
}
