import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/tensor/tensor.ts';
import { DEFAULT_VAE_TRAIN, VaeTraining, type FrameSource } from '../../src/train/vae-training.ts';
import { testRuntime } from '../helpers/gpu.ts';

/** Smooth synthetic 16x16 frames: a bright disc whose size changes from frame to frame. */
const frames: FrameSource = {
  count: 6,
  height: 16,
  width: 16,
  frame: (i) =>
    Float32Array.from({ length: 3 * 256 }, (_, k) => {
      const p = k % 256;
      const d = Math.hypot((p % 16) - 8, Math.floor(p / 16) - 8);
      return d < 3 + i * 0.7 ? 0.8 - 0.2 * Math.floor(k / 256) : -0.6;
    }),
};

describe('VAE training (vae-tiny, SwiftShader)', { timeout: 600_000 }, () => {
  it('fits the frames: the reconstruction loss falls', async () => {
    const rt = await testRuntime();
    const run = new VaeTraining(rt, { ...DEFAULT_VAE_TRAIN, preset: 'vae-tiny', batch: 2, lr: 2e-3 }, frames);
    const losses: number[] = [];
    for (let i = 0; i < 10; i++) losses.push((await run.step()).loss);
    run.dispose();
    expect(losses[9]).toBeLessThan(losses[0] * 0.6);
  });

  it('fine-tunes only the decoder when asked: the encoder does not move', async () => {
    const rt = await testRuntime();
    const run = new VaeTraining(rt, { ...DEFAULT_VAE_TRAIN, preset: 'vae-tiny', batch: 1, decoderOnly: true, lr: 1e-2 }, frames);
    const named = [...run.model.namedParameters()];
    const before = await Tensor.readAll(named.map(([, p]) => p.t));
    await run.step();
    const after = await Tensor.readAll(named.map(([, p]) => p.t));
    named.forEach(([name], i) => {
      const moved = after[i].some((v, j) => v !== before[i][j]);
      expect(moved, name).toBe(name.startsWith('decoder.') || name.startsWith('post_quant_conv.'));
    });
    run.dispose();
  });
});
