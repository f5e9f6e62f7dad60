import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../src/gpu/node-gpu.ts';
import type { EngineEvent, LossPoint, MemorySample, RunState, TrainSettings } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';
import { rejection } from '../helpers/rejection.ts';

const MiB = 1024 * 1024;
// The smallest run that still has every block type: unet-tiny at 16 px (8x8 latents through vae-tiny), one frame.
const TINY: TrainSettings = { preset: 'unet-tiny', resolution: 16, frames: 1 };
const STEPS = 3;

describe('engine.training (Engine on Dawn, unet-tiny)', { timeout: 600_000 }, () => {
  const engine = new Engine({ gpu: nodeGpu, pushMs: 20 });
  const events: EngineEvent[] = [];
  const of = <T extends EngineEvent['type']>(type: T) => events.filter((e) => e.type === type) as Extract<EngineEvent, { type: T }>[];
  const states = () => of('train-progress').map((e) => e.status.state);
  const losses = () => of('train-loss').flatMap((e) => e.points);

  /** Waits for a progress event that satisfies `ok` (events arrive a microtask after they are emitted). */
  async function until(ok: (state: RunState, step: number) => boolean, ms = 300_000) {
    const t0 = Date.now();
    while (!of('train-progress').some((e) => ok(e.status.state, e.status.step))) {
      if (Date.now() - t0 > ms) throw new Error(`timed out; states so far: ${states().join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    await engine.subscribe((e) => events.push(e));
    await engine.init({ budgetBytes: 256 * MiB });
  });
  afterAll(() => engine.dispose());

  it('lists the UNet presets and resolves settings, refusing what cannot work', async () => {
    const presets = await engine.training.presets();
    expect(presets.map((p) => p.name)).toEqual(expect.arrayContaining(['unet-tiny', 'latentsync-stage1-256', 'latentsync-stage1-512']));
    expect(presets.map((p) => p.name)).not.toContain('vae-tiny');
    const tiny = presets.find((p) => p.name === 'unet-tiny')!;
    expect(tiny.resolutions).toEqual(expect.arrayContaining([16, 32, 64]));
    expect(tiny.defaults).toMatchObject({ resolution: 16, frames: 2, batch: 1, microBatch: 1, audioDim: 16 });

    const config = await engine.training.configure({ ...TINY, batch: 4 });
    expect(config).toMatchObject({ preset: 'unet-tiny', resolution: 16, frames: 1, batch: 4, microBatch: 4, audioTokens: 4, audioDim: 16 });

    const bad = await rejection(engine.training.configure({ preset: 'unet-tiny', batch: 3, microBatch: 2 }));
    expect(bad).toMatchObject({ code: 'bad-request', message: 'Batch 3 must be a multiple of the micro-batch 2.' });
    expect((await rejection(engine.training.plan({ preset: 'vae-tiny' }))).code).toBe('bad-request');
    expect((await rejection(engine.training.pause())).code).toBe('training-state');
  });

  it('plans on the meta device; fit says what to change when the budget is too small', async () => {
    const v = await engine.training.plan(TINY);
    expect(v.fits).toBe(true);
    expect(v.peak).toBeGreaterThan(v.peakByCategory.weights * 3);
    expect(v.phases['train-step'].peak).toBeGreaterThan(0);
    expect(v.advice).toBe('');

    await engine.setBudget(4 * MiB);
    const small = await engine.training.plan(TINY);
    expect(small.fits).toBe(false);
    const fit = await engine.training.fit(TINY);
    expect(fit.fits).toBe(false);
    expect(fit.tried.length).toBeGreaterThan(1);
    expect(fit.advice).toMatch(/^Nothing fits .*Raise the budget to at least/);
    // start() refuses before allocating anything.
    const before = await engine.ledger();
    const refused = await rejection(engine.training.start({ steps: 1, settings: TINY }));
    expect(refused.code).toBe('does-not-fit');
    expect(refused.message).toMatch(/^unet-tiny at 16 px, 1 frame, batch 1, checkpointing off, f32 does not fit/);
    expect((await engine.ledger()).live).toBe(before.live);
    await engine.setBudget(256 * MiB);
  });

  let straight: number[] = [];

  it(`trains ${STEPS} steps, streaming progress, losses and memory samples; the event loop stays free`, async () => {
    events.length = 0;
    const live0 = (await engine.ledger()).live;
    const started = await engine.training.start({ steps: STEPS, settings: TINY });
    expect(started).toMatchObject({ state: 'running', step: 0, steps: STEPS, data: { kind: 'synthetic', clips: 4 } });
    // Calls are answered while the run goes on: the worker never blocks on a run.
    let answered = 0;
    while ((await engine.training.status()).state === 'running') {
      answered++;
      await new Promise((r) => setTimeout(r, 50));
    }
    await until((s) => s === 'done');
    expect(answered).toBeGreaterThan(STEPS);

    straight = losses().map((p) => p.loss);
    expect(straight).toHaveLength(STEPS);
    expect(straight.every(Number.isFinite)).toBe(true);
    expect(losses().map((p) => p.step)).toEqual([1, 2, 3]);

    const done = await engine.training.status();
    expect(done).toMatchObject({ state: 'done', step: STEPS, iterations: STEPS, loss: straight.at(-1), etaSeconds: null });
    expect(done.itPerSec).toBeGreaterThan(0);
    // The planner's one step and the run's first step allocate the same buffers: the same peak.
    expect(done.firstStepPeak).toBe(done.plannedPeak);
    // Later steps stay close (the pool's reuse differs a little); the whole run's peak includes the
    // checkpoint written when it ends.
    const near = (bytes: number) => Math.abs(bytes - done.plannedPeak!) / done.plannedPeak!;
    expect(near(done.ledger!.phases['train-step'].peak)).toBeLessThan(0.1);
    expect(near(done.ledger!.phases.optimizer.peak)).toBeLessThan(0.1);
    expect(done.measuredPeak).toBeGreaterThanOrEqual(done.plannedPeak!);
    // The run's memory is released when it ends.
    expect(done.ledger).toMatchObject({ live: live0, pooled: 0 });

    const samples: MemorySample[] = of('train-memory').flatMap((e) => e.samples);
    const step1 = samples.filter((s) => s.step === 1);
    // Forward and backward, AdamW, then the readback of the loss (outside any named phase: idle).
    expect(step1.map((s) => s.phase)).toEqual(['train-step', 'optimizer', 'idle', 'after step']);
    expect(step1.map((s) => s.x)).toEqual([1 / 4, 2 / 4, 3 / 4, 1]);
    const peakInStep = step1[0];
    expect(peakInStep.byCategory.activations).toBeGreaterThan(0);
    expect(peakInStep.live).toBe(Object.values(peakInStep.byCategory).reduce((a, b) => a + b, 0));
    // After a step only weights, gradients (zeroed, kept) and AdamW state stay, plus the uniform arena.
    const after = step1.at(-1)!;
    expect(after.byCategory.activations).toBe(0);
    expect(after.byCategory.weights).toBeGreaterThan(0);

    expect(states()[0]).toBe('running');
    expect(states().at(-1)).toBe('done');
    const history = await engine.training.history();
    expect(history.loss.map((p: LossPoint) => p.loss)).toEqual(straight);
    expect(history.memory).toHaveLength(samples.length);
  });

  it('pausing and resuming does not change the losses', async () => {
    events.length = 0;
    await engine.training.start({ steps: STEPS, settings: TINY });
    await until((_, step) => step >= 1);
    const paused = await engine.training.pause();
    expect(paused.state).toBe('paused');
    const at = paused.step;
    expect(at).toBeLessThan(STEPS);
    // Nothing steps while paused.
    await new Promise((r) => setTimeout(r, 300));
    expect((await engine.training.status()).step).toBe(at);
    expect((await rejection(engine.training.start({ steps: 1, settings: TINY }))).code).toBe('training-state');

    expect((await engine.training.resume()).state).toBe('running');
    await until((s) => s === 'done');
    expect(losses().map((p) => p.loss)).toEqual(straight);
    expect(states()).toEqual(expect.arrayContaining(['running', 'pausing', 'paused', 'done']));
  });

  it('stop ends a run after the step in flight and releases its memory', async () => {
    events.length = 0;
    const live0 = (await engine.ledger()).live;
    await engine.training.start({ steps: 1000, settings: TINY });
    await until((_, step) => step >= 1);
    const stopped = await engine.training.stop();
    expect(stopped.state).toBe('stopped');
    expect(stopped.step).toBeLessThan(1000);
    expect(stopped.ledger).toMatchObject({ live: live0, pooled: 0 });
    expect(states().slice(-2)).toEqual(['stopping', 'stopped']);
  });
});
