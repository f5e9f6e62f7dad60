import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ddimSample } from '../../src/diffusion/ddim-sampler.ts';
import { NoiseSchedule } from '../../src/diffusion/schedule.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { loadStateDict, memorySource } from '../../src/nn/state-dict.ts';
import { foldFrames, unfoldFrames } from '../../src/nn/unet/frames.ts';
import { UNet3DConditionModel } from '../../src/nn/unet/unet-3d-condition.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose, FIXTURES, loadGolden } from '../helpers/golden.ts';
import { testRuntime } from '../helpers/gpu.ts';

describe('DDIM sampling with the tiny UNet vs PyTorch', { timeout: 600_000 }, () => {
  it('matches 3 guided steps (CFG 1.5, zero-audio null condition, shared noise)', async () => {
    const g = loadGolden('diffusion/ddim_unet_tiny.safetensors');
    const cfg = JSON.parse(readFileSync(join(FIXTURES, 'models', 'unet_tiny.config.json'), 'utf8'));
    const rt = await testRuntime();
    const unet = new UNet3DConditionModel(cfg);
    const weights = readSafetensors(readFileSync(join(FIXTURES, 'models', 'unet_tiny.weights.safetensors'))).tensors;
    expect((await loadStateDict(unet, rt, memorySource(weights))).ok).toBe(true);
    const frames = g.meta.frames as number;
    const fold = (name: string) => {
      const [b, c, f, h, w] = g.shape(name);
      return Tensor.fromArray(rt, foldFrames(g.t(name), [b, c, f, h, w]), [b * f, c, h, w]);
    };
    const [, , ta, da] = g.shape('in.audio');
    const out = ddimSample(
      unet,
      new NoiseSchedule(),
      { mask: fold('in.mask'), maskedLatents: fold('in.masked'), refLatents: fold('in.ref'), audio: Tensor.fromArray(rt, g.t('in.audio'), [frames, ta, da]), frames },
      fold('in.noise'),
      { steps: g.meta.steps as number, guidance: g.meta.guidance as number },
    );
    const got = unfoldFrames(await out.toArray(), g.shape('out.latents'));
    expectClose(got, g.t('out.latents'), 1e-4, 'DDIM latents');
  });
});
