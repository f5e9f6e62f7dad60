import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../src/gpu/node-gpu.ts';
import type { EngineEvent, RunState, TrainSettings } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';
import { syntheticClips } from '../../src/train/synthetic-data.ts';
import { TrainingService } from '../../src/worker/training-service.ts';
import { metaRuntime } from '../helpers/gpu.ts';
import { mouthBox, spreadIndices, validationFrames } from '../../src/worker/validation-frames.ts';
import { rejection } from '../helpers/rejection.ts';

const MiB = 1024 * 1024;
const BUDGET = 256 * MiB;
// unet-tiny at 16 px (8x8 latents through vae-tiny), two frames, validated every two steps.
const TINY: TrainSettings = { preset: 'unet-tiny', resolution: 16, frames: 2, validateEvery: 2 };
// Two DDIM steps keep validation quick on SwiftShader; the memory peak of one step is that of twenty.
const SAMPLING = { steps: 2 };

describe('validation frames for the gallery', () => {
  it('spreads frame indices, converts [-1, 1] to bytes and finds the mouth box of the mask', () => {
    expect(spreadIndices(2, 4)).toEqual([0, 1]);
    expect(spreadIndices(16, 4)).toEqual([0, 5, 10, 15]);
    // LatentSync's mask keeps the upper half (1) and generates the lower half (0).
    const mask = new Float32Array(16).map((_, i) => (Math.floor(i / 4) < 2 ? 1 : 0));
    expect(mouthBox(mask, 4, 4, 32, 32)).toEqual({ x: 0, y: 16, width: 32, height: 16 });
    const mouthOnly = new Float32Array(16).fill(1);
    mouthOnly[2 * 4 + 1] = 0;
    mouthOnly[3 * 4 + 2] = 0;
    expect(mouthBox(mouthOnly, 4, 4, 32, 32)).toEqual({ x: 8, y: 16, width: 16, height: 16 });

    // Two 2x2 frames: truth is -1 / +1 / 0 per channel, generated its negation.
    const F = 2, H = 2, W = 2;
    const truth = { shape: [F, 3, H, W], data: new Float32Array(F * 3 * H * W).map((_, i) => [-1, 1, 0][Math.floor(i / (H * W)) % 3]) };
    const generated = { shape: truth.shape, data: truth.data.map((v) => -v) };
    const { frames, mouth } = validationFrames(truth, generated, new Float32Array([1, 0]), [2, 1]);
    expect(frames.map((f) => f.index)).toEqual([0, 1]);
    expect(frames[0].size).toEqual({ width: 2, height: 2 });
    expect([...frames[0].truth.slice(0, 3)]).toEqual([0, 255, 128]);
    expect([...frames[1].generated.slice(9, 12)]).toEqual([255, 0, 128]);
    expect(mouth).toEqual({ x: 0, y: 1, width: 2, height: 1 });

    // A frame above the side limit is shrunk by area averaging.
    const big = { shape: [1, 3, 8, 8], data: new Float32Array(3 * 64).fill(1) };
    const shrunk = validationFrames(big, big, new Float32Array([1, 0]), [2, 1], { side: 4 });
    expect(shrunk.frames[0].size).toEqual({ width: 4, height: 4 });
    expect(shrunk.frames[0].truth.length).toBe(4 * 4 * 3);
    expect(shrunk.mouth).toEqual({ x: 0, y: 2, width: 4, height: 2 });
  });
});

describe('engine.training validation (Engine on Dawn, unet-tiny + seeded vae-tiny)', { timeout: 900_000 }, () => {
  const engine = new Engine({ gpu: nodeGpu, pushMs: 20 });
  const events: EngineEvent[] = [];
  const of = <T extends EngineEvent['type']>(type: T) => events.filter((e) => e.type === type) as Extract<EngineEvent, { type: T }>[];

  async function until(ok: (state: RunState, step: number) => boolean, ms = 600_000) {
    const t0 = Date.now();
    while (!of('train-progress').some((e) => ok(e.status.state, e.status.step))) {
      if (Date.now() - t0 > ms) throw new Error(`timed out; states so far: ${of('train-progress').map((e) => e.status.state).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    await engine.subscribe((e) => events.push(e));
    await engine.init({ budgetBytes: BUDGET });
  });
  afterAll(() => engine.dispose());

  it('refuses to validate when no run holds a model', async () => {
    const idle = await rejection(engine.training.validate());
    expect(idle.code).toBe('training-state');
    expect(idle.action).toMatch(/Start a run/);
  });

  it('validates every 2 steps inside the budget and within the plan’s validation phase', async () => {
    events.length = 0;
    const plan = await engine.training.plan(TINY);
    expect(plan.fits).toBe(true);
    const plannedValidation = plan.phases.validation.peak;
    expect(plannedValidation).toBeGreaterThan(plan.phases['train-step'].peak * 0.5);

    const t0 = performance.now();
    await engine.training.start({ steps: 4, settings: TINY, validation: SAMPLING });
    await until((s) => s === 'done');
    const seconds = (performance.now() - t0) / 1000;
    const failed = of('train-validation-failed');
    expect(failed.map((e) => e.failure.message)).toEqual([]);

    const results = of('train-validation').map((e) => e.result);
    expect(results.map((r) => r.step)).toEqual([2, 4]);
    for (const r of results) {
      expect(Number.isFinite(r.psnr)).toBe(true);
      expect(r.psnr).toBeGreaterThan(0);
      expect(r.mouthL1).toBeGreaterThan(0);
      expect(r).toMatchObject({ trigger: 'schedule', reference: 'vae-decode', vae: 'seeded', budget: BUDGET, plannedPeak: plannedValidation, sampling: { steps: 2, guidance: 1.5, seed: 7 } });
      expect(r.peakBytes).toBeLessThanOrEqual(BUDGET);
      expect(r.peakBytes).toBeLessThanOrEqual(plannedValidation);
      expect(r.frames).toHaveLength(2);
      expect(r.frames[0].size).toEqual({ width: 16, height: 16 });
      expect(r.frames[0].truth).toHaveLength(16 * 16 * 3);
      // Outside the mouth the composite is the truth; inside it is the model's.
      expect(r.mouth).toEqual({ x: 0, y: 8, width: 16, height: 8 });
      const f = r.frames[0];
      expect(f.generated.slice(0, 8 * 16 * 3)).toEqual(f.truth.slice(0, 8 * 16 * 3));
      expect(f.generated.slice(8 * 16 * 3)).not.toEqual(f.truth.slice(8 * 16 * 3));
    }
    // Same seed, same window: the reference is the same frames at both steps.
    expect(results[1].frames[0].truth).toEqual(results[0].frames[0].truth);

    const done = await engine.training.status();
    const validationPeak = done.ledger!.phases.validation.peak;
    expect(done.measuredPeak).toBeLessThanOrEqual(BUDGET);
    expect(validationPeak).toBeLessThanOrEqual(plannedValidation);
    expect(validationPeak).toBe(Math.max(...results.map((r) => r.peakBytes)));

    // The memory timeline sees validation as a phase of steps 2 and 4.
    const validationSamples = of('train-memory')
      .flatMap((e) => e.samples)
      .filter((s) => s.phase === 'validation');
    expect(validationSamples.map((s) => s.step)).toEqual([2, 4]);
    expect(validationSamples[0].byCategory.validation).toBeGreaterThan(0);

    // A late view gets the validations from the history; the run ended, so its model is gone.
    expect((await engine.training.history()).validations.map((r) => r.step)).toEqual([2, 4]);
    expect((await rejection(engine.training.validate())).code).toBe('training-state');

    console.log(
      `[worker-validation] plan: step ${plan.phases['train-step'].peak} B, validation ${plannedValidation} B; measured: step ${done.ledger!.phases['train-step'].peak} B, ` +
        `validation ${validationPeak} B (per run ${results.map((r) => r.peakBytes).join(', ')}), first step ${done.firstStepPeak} B, run peak ${done.measuredPeak} B ` +
        `(phases ${Object.entries(done.ledger!.phases).map(([k, v]) => `${k} ${v.peak}`).join(', ')}); ` +
        `validation ${results.map((r) => Math.round(r.ms)).join(', ')} ms (tile ${results[0].tile}), PSNR ${results.map((r) => r.psnr.toFixed(2)).join(', ')} dB, 4 steps + 2 validations ${seconds.toFixed(1)} s`,
    );
  });

  it('validates on demand while paused and while running, between steps', async () => {
    events.length = 0;
    await engine.training.start({ steps: 1000, settings: { ...TINY, validateEvery: 0 }, validation: SAMPLING });
    await until((_, step) => step >= 1);
    const paused = await engine.training.pause();
    expect(paused.state).toBe('paused');

    const t0 = performance.now();
    const r = await engine.training.validate({ steps: 1, seed: 3 });
    const ms = performance.now() - t0;
    expect(r).toMatchObject({ step: paused.step, trigger: 'request', plannedPeak: null, sampling: { steps: 1, guidance: 1.5, seed: 3 } });
    expect(Number.isFinite(r.psnr)).toBe(true);
    expect(r.peakBytes).toBeLessThanOrEqual(BUDGET);
    const after = await engine.training.status();
    expect(after).toMatchObject({ state: 'paused', step: paused.step });
    // Its memory samples sit at the paused step.
    const samples = of('train-memory').flatMap((e) => e.samples).filter((s) => s.phase === 'validation');
    expect(samples.map((s) => [s.x, s.step])).toEqual([[paused.step, paused.step]]);
    expect((await rejection(engine.training.validate({ steps: 0 }))).code).toBe('bad-request');

    // While running: served between two steps, the run goes on after.
    await engine.training.resume();
    const running = await engine.training.validate();
    expect(running.step).toBeGreaterThanOrEqual(paused.step);
    expect(running.sampling.steps).toBe(2);
    await until((_, step) => step > running.step);

    const stopped = await engine.training.stop();
    expect(stopped.state).toBe('stopped');
    expect((await rejection(engine.training.validate())).code).toBe('training-state');
    console.log(`[worker-validation] on demand while paused: ${Math.round(ms)} ms, peak ${r.peakBytes} B of ${BUDGET} B`);
  });

  it('decodes with the VAE the engine holds, counted once by the plan', async () => {
    events.length = 0;
    const without = await engine.training.plan({ ...TINY, validateEvery: 0 });
    const before = await engine.training.plan(TINY);
    const live0 = (await engine.ledger()).live;
    await engine.datasets.loadVae(null, 'vae-tiny');
    const vaeBytes = (await engine.ledger()).live - live0;
    // The plan materializes the same VAE on the meta device.
    expect(vaeBytes).toBe(before.peakByCategory.weights - without.peakByCategory.weights);
    // The engine now holds it outside training: a plan with validation counts it itself, so its bytes are given back.
    const held = await engine.training.plan(TINY);
    expect(held.budget).toBe(before.budget);
    expect(held.phases.validation.peak).toBe(before.phases.validation.peak);
    expect((await engine.training.plan({ ...TINY, validateEvery: 0 })).budget).toBe(before.budget - vaeBytes);

    await engine.training.start({ steps: 2, settings: TINY, validation: { steps: 1 } });
    await until((s) => s === 'done');
    const [r] = of('train-validation').map((e) => e.result);
    expect(r).toMatchObject({ step: 2, vae: 'loaded', plannedPeak: held.phases.validation.peak });
    expect(r.peakBytes).toBeLessThanOrEqual(r.plannedPeak!);
    // The run released its own buffers; the engine's VAE stays.
    expect((await engine.ledger()).live).toBeGreaterThanOrEqual(vaeBytes);
  });

  it('a run without validation plans around the VAE the engine holds: its first step peaks where planned', async () => {
    const { live, liveByCategory } = await engine.ledger();
    // between runs the engine holds the VAE's weights and the runtime's uniform arena, nothing else
    expect(live).toBe(liveByCategory.weights + liveByCategory.workspace);
    const vaeBytes = liveByCategory.weights;
    expect(vaeBytes).toBeGreaterThan(0);
    const settings = { ...TINY, validateEvery: 0 };
    events.length = 0;
    const plan = await engine.training.plan(settings);
    await engine.training.start({ steps: 1, settings });
    await until((s) => s === 'done');
    const done = await engine.training.status();
    expect(done.plannedPeak).toBe(plan.peak + vaeBytes);
    expect(done.firstStepPeak).toBe(done.plannedPeak);
  });

  it('refuses sampling settings that cannot work before the run starts, allocating nothing', async () => {
    const live0 = (await engine.ledger()).live;
    const { state } = await engine.training.status();
    const bad = await rejection(engine.training.start({ steps: 2, settings: TINY, validation: { guidance: -1 } }));
    expect(bad).toMatchObject({ code: 'bad-request', message: 'The guidance scale must be 0 or more, not -1.' });
    expect((await engine.training.status()).state).toBe(state);
    expect((await engine.ledger()).live).toBe(live0);
  });
});

describe('a dataset run without its VAE', () => {
  it('is refused at start when it would validate, and starts without validation', async () => {
    // The meta device: the refusal comes before any step, and nothing is allocated on a GPU.
    const rt = await metaRuntime({ budget: BUDGET });
    const clips = syntheticClips({ clips: 1, frames: 8, latentChannels: 4, height: 8, width: 8, tokens: 4, dim: 16, seed: 1 });
    const service = new TrainingService({ runtime: () => rt, emit: () => undefined, datasetClips: async () => clips, vae: () => null });
    const live0 = rt.ledger.snapshot().live;
    const refused = await rejection(service.start({ steps: 2, settings: TINY, datasetId: 'd1' }));
    const message = 'Validation needs the VAE that encoded this dataset, and it is not loaded.';
    expect(refused).toMatchObject({ code: 'bad-request', message });
    expect(refused.action).toMatch(/Load the VAE in the Clips panel/);
    expect(rt.ledger.snapshot().live).toBe(live0);
    // Without a schedule it starts; asked to validate, it refuses the same way and the run goes on.
    const started = await service.start({ steps: 3, settings: { ...TINY, validateEvery: 0 }, datasetId: 'd1' });
    expect(started.data).toEqual({ kind: 'dataset', datasetId: 'd1', clips: 1 });
    expect(await rejection(service.validate())).toMatchObject({ code: 'bad-request', message });
    await service.session!.finished;
    expect((await service.status()).state).toBe('done');
  });
});
