import { beforeAll, describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../src/gpu/errors.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { getPreset } from '../../src/nn/presets.ts';
import type { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { chooseTile, decodeTiled, type TiledReport } from '../../src/validate/tiled-vae.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { input, maxAbsDiff, tinyVae, untiledDecode } from './tiled-vae-shared.ts';

/**
 * The cap: a tiled decode never holds more than capBytes above what was held when it started (the ledger's
 * 'validation' phase peak says so), the planner's peak on the meta device is the measured peak to the
 * byte, and a decode whose untiled peak does not fit the budget succeeds tiled.
 */
let rt: GpuRuntime;
let vae: AutoencoderKL;
let latents: Tensor;
let reference: Float32Array;
let untiledPeak: number;

beforeAll(async () => {
  rt = await testRuntime();
  vae = tinyVae(rt, 3);
  latents = input(rt, [1, 4, 10, 9], 5);
  ({ values: reference, peak: untiledPeak } = await untiledDecode(rt, vae, latents));
});

/** A tiled decode under `cap`, with the ledger's own account of its phase peak. */
async function capped(cap: number, tile?: number) {
  rt.ledger.trim();
  const held0 = rt.ledger.held;
  rt.ledger.resetPeaks();
  let report: TiledReport | null = null;
  const out = await decodeTiled(vae, latents, { capBytes: cap, tile, onReport: (r) => (report = r) });
  const phasePeak = rt.ledger.snapshot().phases.validation.peak - held0;
  const diff = maxAbsDiff(await out.toArray(), reference);
  out.dispose();
  return { report: report!, phasePeak, diff };
}

describe('tiled VAE decode under a cap', () => {
  it('succeeds where the untiled decode passes the budget, and stays under it', async () => {
    rt.ledger.trim();
    const held0 = rt.ledger.held;
    const budget = rt.ledger.budget;
    rt.ledger.budget = held0 + untiledPeak - 1;
    try {
      await expect(untiledDecode(rt, vae, latents)).rejects.toBeInstanceOf(BudgetExceededError);
      rt.ledger.trim();
      expect(rt.ledger.held).toBe(held0);
      const { report, phasePeak, diff } = await capped(Infinity);
      console.log(`budget ${untiledPeak - 1} B above held (untiled needs ${untiledPeak}): tile ${report.tile}, peak ${phasePeak}, diff ${diff.toExponential(2)}`);
      expect(report.capBytes).toBe(untiledPeak - 1);
      expect(phasePeak).toBeLessThanOrEqual(untiledPeak - 1);
      expect(diff).toBeLessThanOrEqual(1e-5);
    } finally {
      rt.ledger.budget = budget;
    }
  });

  it('picks a smaller tile for a small cap; planned peak (meta) == measured peak <= cap', async () => {
    const cap = Math.floor(untiledPeak * 0.6);
    const plan = await chooseTile(vae.config, latents.shape, cap, { limits: rt.limits });
    const { report, phasePeak, diff } = await capped(cap);
    console.log(`cap ${cap} B (untiled peak ${untiledPeak}): plan ${JSON.stringify(plan)}; measured ${phasePeak}, diff ${diff.toExponential(2)}`);
    expect(plan.tile).toBeLessThan(20);
    expect([report.tile, report.staging, report.imagesPerChunk]).toEqual([plan.tile, plan.staging, plan.imagesPerChunk]);
    expect(report.plannedPeakBytes).toBe(plan.peakBytes);
    expect(report.peakBytes).toBe(plan.peakBytes);
    expect(phasePeak).toBe(plan.peakBytes);
    expect(phasePeak).toBeLessThanOrEqual(cap);
    expect(diff).toBeLessThanOrEqual(1e-5);
  });

  it('refuses a given tile that does not fit the cap, and frees what it allocated', async () => {
    rt.ledger.trim();
    const live = rt.ledger.snapshot().live;
    const cap = Math.floor(untiledPeak * 0.1);
    await expect(decodeTiled(vae, latents, { capBytes: cap, tile: 20, staging: 'gpu' })).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(decodeTiled(vae, latents, { capBytes: cap, tile: 20 })).rejects.toThrow(/nothing fits/);
    expect(rt.ledger.snapshot().live).toBe(live);
  });

  it('plans the real sd-vae-ft-mse at 512 px on the meta device, within the cap', async () => {
    const config = getPreset('sd-vae-ft-mse').config;
    const cap = 96 * 2 ** 20;
    const t0 = performance.now();
    const plan = await chooseTile(config, [1, 4, 64, 64], cap, { limits: rt.limits, tiles: [512, 384, 256, 192, 128, 96, 64] });
    console.log(`sd-vae 512 px under 96 MiB: ${JSON.stringify(plan)} in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(plan.peakBytes).toBeLessThanOrEqual(cap);
    expect(plan.tile).toBeLessThan(512);
  });
});
