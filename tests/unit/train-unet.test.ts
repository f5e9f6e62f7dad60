import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../src/gpu/errors.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../../src/train/config.ts';
import { planningClips, planTraining } from '../../src/train/plan.ts';
import type { UnetBatch } from '../../src/train/sample.ts';
import { UnetTraining } from '../../src/train/unet-training.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { maxRelError } from '../helpers/golden.ts';
import { testRuntime } from '../helpers/gpu.ts';

const tiny = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  ...DEFAULT_TRAIN,
  preset: 'unet-tiny',
  resolution: 16,
  frames: 2,
  audioTokens: 3,
  audioDim: 16,
  vaePreset: 'vae-tiny',
  lr: 1e-3,
  weightDecay: 0,
  ...over,
});

/** Every parameter's accumulated gradient, concatenated: compared as one vector, relative to its largest value. */
async function gradsOf(run: UnetTraining): Promise<Float32Array> {
  const grads = await Tensor.readAll([...run.model.namedParameters()].map(([, p]) => p.t.grad!));
  const out = new Float32Array(grads.reduce((n, g) => n + g.length, 0));
  let at = 0;
  for (const g of grads) {
    out.set(g, at);
    at += g.length;
  }
  return out;
}

/** Splits a batch of n samples into n batches of one sample (same noise, timesteps and data). */
function splitSamples(b: UnetBatch): UnetBatch[] {
  const { n, frames, h, w, tokens, dim } = b.shape;
  const samples = n / frames;
  const cut = (a: Float32Array, i: number) => a.slice((i * a.length) / samples, ((i + 1) * a.length) / samples);
  return Array.from({ length: samples }, (_, i) => ({
    input: cut(b.input, i),
    target: cut(b.target, i),
    timesteps: cut(b.timesteps, i),
    audio: cut(b.audio, i),
    shape: { n: frames, frames, h, w, tokens, dim },
  }));
}

describe('UNet training (tiny preset, SwiftShader)', { timeout: 900_000 }, () => {
  it('overfits one synthetic sample: the loss falls', async () => {
    const rt = await testRuntime();
    const cfg = tiny({ lr: 3e-3 });
    const run = new UnetTraining(rt, cfg, planningClips(cfg));
    const [batch] = run.nextMicroBatches();
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) losses.push((await run.trainer.trainStep([batch])).loss);
    run.dispose();
    expect(losses[11]).toBeLessThan(losses[0] * 0.7);
  });

  it('4 micro-batches of 1 with accumulation give the gradient of one batch of 4', async () => {
    const rt = await testRuntime();
    const cfg = tiny({ batch: 4, microBatch: 4 });
    const whole = new UnetTraining(rt, cfg, planningClips(cfg));
    const [batch] = whole.nextMicroBatches();
    whole.trainer.accumulate([batch]);
    const parts = new UnetTraining(rt, tiny({ batch: 4, microBatch: 1 }), planningClips(cfg));
    parts.trainer.accumulate(splitSamples(batch));
    expect(maxRelError(await gradsOf(parts), await gradsOf(whole))).toBeLessThanOrEqual(1e-5);
    whole.dispose();
    parts.dispose();
  });

  it('gives identical losses for the same seed, bit for bit', async () => {
    const rt = await testRuntime();
    const curves: number[][] = [];
    for (let k = 0; k < 2; k++) {
      const cfg = tiny();
      const run = new UnetTraining(rt, cfg, planningClips(cfg));
      const curve: number[] = [];
      for (let i = 0; i < 3; i++) curve.push((await run.step()).loss);
      curves.push(curve);
      run.dispose();
    }
    expect(curves[1]).toEqual(curves[0]);
  });

  it('checkpointing gives the same gradients with a lower activation peak, planned and measured', async () => {
    const out: { g: Float32Array; planned: number; measured: number }[] = [];
    let batch: UnetBatch | null = null;
    for (const checkpointing of [false, true]) {
      const cfg = tiny({ checkpointing });
      const plan = await planTraining(cfg, (await testRuntime()).limits);
      const real = await testRuntime();
      const run = new UnetTraining(real, cfg, planningClips(cfg));
      batch ??= run.nextMicroBatches()[0];
      await real.ledger.inPhase('train-step', () => run.trainer.accumulate([batch!]));
      await real.sync();
      out.push({ g: await gradsOf(run), planned: plan.peakByCategory.activations, measured: real.ledger.snapshot().peakByCategory.activations });
      run.dispose();
    }
    expect(maxRelError(out[1].g, out[0].g)).toBeLessThanOrEqual(1e-5);
    expect(out[1].planned).toBeLessThan(out[0].planned);
    expect(out[1].measured).toBeLessThan(out[0].measured);
  });

  it('planned peak equals measured peak, per category and phase, for several configurations', async () => {
    for (const over of [{}, { checkpointing: true }, { batch: 2, microBatch: 1 }, { precision: 'f16' as const, halfWeightCopy: true }]) {
      const cfg = tiny(over);
      const rt = await testRuntime();
      const plan = await planTraining(cfg, rt.limits);
      const real = await testRuntime({ budget: plan.peak });
      const run = new UnetTraining(real, cfg, planningClips(cfg));
      await run.step();
      await real.sync();
      const s = real.ledger.snapshot();
      expect(s.peak, JSON.stringify(over)).toBe(plan.peak);
      expect(s.peakByCategory).toEqual(plan.peakByCategory);
      expect(s.phases['train-step'].peak).toBe(plan.phases['train-step'].peak);
      run.dispose();
    }
  });

  it('trains with f16 storage within a documented bound of the f32 run', async () => {
    // Bound: after 4 steps the f16 loss stays within 5% of the f32 loss (f16 activations round to ~3 digits).
    const rt = await testRuntime();
    const last: number[] = [];
    for (const precision of ['f32', 'f16'] as const) {
      const cfg = tiny({ precision, halfWeightCopy: precision === 'f16' });
      const run = new UnetTraining(rt, cfg, planningClips(cfg));
      const [batch] = run.nextMicroBatches();
      let loss = 0;
      for (let i = 0; i < 4; i++) loss = (await run.trainer.trainStep([batch])).loss;
      last.push(loss);
      run.dispose();
    }
    expect(Number.isFinite(last[1])).toBe(true);
    expect(Math.abs(last[1] - last[0]) / last[0]).toBeLessThan(0.05);
  });

  it('refuses a budget that cannot hold the model before any GPU allocation', async () => {
    const cfg = tiny();
    const real = await testRuntime({ budget: 256 * 1024 });
    const before = real.ledger.snapshot();
    await expect(UnetTraining.create(real, cfg, planningClips(cfg))).rejects.toThrow(/Nothing fits .*Raise the budget to at least/);
    const after = real.ledger.snapshot();
    expect(after.peak).toBe(before.peak);
    expect(after.buffers).toBe(before.buffers);
  });
});
