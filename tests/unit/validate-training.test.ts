import { describe, expect, it } from 'vitest';
import { getPreset } from '../../src/nn/presets.ts';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../../src/train/config.ts';
import { planningClips, planTraining } from '../../src/train/plan.ts';
import { UnetTraining } from '../../src/train/unet-training.ts';
import { validateUnet } from '../../src/validate/validation.ts';
import { testRuntime } from '../helpers/gpu.ts';

const cfg: TrainConfig = {
  ...DEFAULT_TRAIN,
  preset: 'unet-tiny',
  resolution: 16,
  frames: 2,
  audioTokens: 3,
  audioDim: 16,
  vaePreset: 'vae-tiny',
  validateEvery: 1,
};

describe('validation inside the budget (tiny UNet + tiny VAE)', { timeout: 900_000 }, () => {
  it('runs under a budget set just above the training peak; planned validation peak == measured', async () => {
    const probe = await testRuntime();
    const trainingOnly = await planTraining({ ...cfg, validateEvery: 0 }, probe.limits);
    const withValidation = await planTraining(cfg, probe.limits);
    // The budget holds training plus the VAE's weights and a few KiB: validation must fit what is left.
    const budget = trainingOnly.peak + withValidation.peakByCategory.weights - trainingOnly.peakByCategory.weights + 64 * 1024;
    const plan = await planTraining(cfg, probe.limits, budget);
    expect(plan.fits, plan.refused ?? '').toBe(true);

    const rt = await testRuntime({ budget });
    const run = new UnetTraining(rt, cfg, planningClips(cfg));
    const vae = new AutoencoderKL(getPreset('vae-tiny').config).materialize(rt, { seed: 3 });
    await run.step();
    const result = await validateUnet(run, vae, { steps: 1 });
    await rt.sync();
    const s = rt.ledger.snapshot();
    expect(s.peak).toBeLessThanOrEqual(budget);
    expect(s.phases.validation.peak).toBe(plan.phases.validation.peak);
    expect(result.generated.shape).toEqual([2, 3, 16, 16]);
    expect(Number.isFinite(result.psnr)).toBe(true);
    expect(result.mouthL1).toBeGreaterThan(0);
    // outside the mouth, the composite is the reference itself
    const keepRow = 0;
    expect(result.generated.data[keepRow]).toBe(result.reference.data[keepRow]);
    run.dispose();
    vae.dispose();
  });
});
