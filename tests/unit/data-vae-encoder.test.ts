// The latent cache's VAE encoder on Dawn with the tiny VAE preset: shapes, scaling, determinism.
import { describe, expect, it } from 'vitest';
import { applyMask, pixelMask } from '../../src/data/mask.ts';
import { vaeLatentEncoder } from '../../src/data/vae-encoder.ts';
import { modelFromPreset } from '../../src/nn/presets.ts';
import type { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { scope } from '../../src/tensor/scope.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testRuntime } from '../helpers/gpu.ts';

describe('vaeLatentEncoder', () => {
  it('encodes frames and masked frames to scaled latent means', async () => {
    const rt = await testRuntime({ pooling: false });
    const vae = (modelFromPreset('vae-tiny') as AutoencoderKL).materialize(rt, { seed: 7 });
    const enc = vaeLatentEncoder(vae, rt, 'vae-tiny:seed7');
    expect([enc.factor, enc.channels]).toEqual([2, 4]);
    const size = 16, n = 2;
    const frame = Float32Array.from({ length: 3 * size * size }, (_, i) => Math.sin(i * 0.13));
    const frames = new Float32Array(2 * n * frame.length);
    frames.set(frame, 0);
    frames.set(frame.map((v) => -v), frame.length);
    const masked = applyMask(frame, pixelMask(size));
    frames.set(masked, 2 * frame.length);
    frames.set(masked, 3 * frame.length);
    const out = await enc.encode(frames, 2 * n, size);
    const per = 4 * 8 * 8;
    expect(out.length).toBe(2 * n * per);
    // the same frame gives the same latents; the direct call, scaled, agrees
    expect(Array.from(out.subarray(2 * per, 3 * per))).toEqual(Array.from(out.subarray(3 * per, 4 * per)));
    const direct = await scope(() => vae.encode(Tensor.fromArray(rt, frame, [1, 3, size, size])).mean).toArray();
    for (let i = 0; i < per; i++) expect(out[i]).toBeCloseTo(direct[i]! * vae.scalingFactor, 5);
    expect(out.subarray(0, per)).not.toEqual(out.subarray(per, 2 * per));
  });
});
