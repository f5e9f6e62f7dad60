// engine.checkpoints on Dawn (unet-tiny at 32 px): autosave during a run, a full store that fails a save
// without stopping training or touching earlier checkpoints, a device destroyed in the middle of a step
// while a checkpoint is still being written (the run stops cleanly, the write finishes, a new device comes
// up and the last checkpoint is offered), the resumed run giving the uninterrupted run's losses, and a run
// that runs out of GPU memory mid-step (the budget) stopping with the same offer, and a paused run whose
// stop saves the steps since the last autosave.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../src/gpu/node-gpu.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { CheckpointStore, MemoryCheckpointBackend, type PartRecord } from '../../src/store/checkpoint-store.ts';
import type { EngineEvent, RunState, TrainSettings } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';
import { rejection } from '../helpers/rejection.ts';

const TINY: TrainSettings = { preset: 'unet-tiny', resolution: 32, frames: 1 };
const STEPS = 4;
const MiB = 1024 * 1024;

/** A memory store whose writes can be slowed down (a save in flight) or refused as a full disk. */
class TestBackend extends MemoryCheckpointBackend {
  delayMs = 0;
  full = false;
  override async putParts(id: string, parts: readonly PartRecord[]): Promise<void> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.full) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    return super.putParts(id, parts);
  }
}

describe('engine.checkpoints (Engine on Dawn, unet-tiny)', { timeout: 900_000 }, () => {
  const backend = new TestBackend();
  const store = new CheckpointStore(backend, { partBytes: 64 * 1024, batchBytes: 256 * 1024 });
  const engine = new Engine({ gpu: nodeGpu, pushMs: 20, checkpointStore: async () => store });
  const events: EngineEvent[] = [];
  const of = <T extends EngineEvent['type']>(type: T) => events.filter((e) => e.type === type) as Extract<EngineEvent, { type: T }>[];
  const until = async (ok: () => boolean, what: string, ms = 400_000) => {
    const t0 = Date.now();
    while (!ok()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; events: ${events.map((e) => e.type).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const reached = (state: RunState) => () => of('train-progress').some((e) => e.status.state === state);
  let straight: number[] = [];

  beforeAll(async () => {
    await engine.subscribe((e) => events.push(e));
    await engine.init({ budgetBytes: 256 * MiB });
    await engine.checkpoints.setAutosave({ everySteps: 2, everyMinutes: null, keepLast: 2 });
  });
  afterAll(() => engine.dispose());

  it('autosaves while training; a full store fails one save with a clear message and nothing else', async () => {
    expect((await rejection(engine.checkpoints.save())).code).toBe('training-state');
    const t0 = performance.now();
    await engine.training.start({ steps: STEPS, settings: TINY });
    await until(() => of('checkpoint-saved').length === 1, 'the step-2 autosave');
    backend.full = true; // the disk fills up before the last save (the run's end)
    await until(reached('done'), 'the run to finish');
    await until(() => of('checkpoint-failed').length === 1, 'the failed save');
    backend.full = false;
    straight = (await engine.training.history()).loss.map((p) => p.loss);
    expect(straight).toHaveLength(STEPS);

    const failed = of('checkpoint-failed')[0].failure;
    expect(failed.code).toBe('storage-full');
    expect(failed.message).toMatch(/Not enough storage to save the checkpoint at step 4: .*Earlier checkpoints are intact/);
    const list = await engine.checkpoints.list();
    expect(list.map((c) => c.step)).toEqual([2]);
    expect(list[0]).toMatchObject({ auto: true, preset: 'unet-tiny', lossCount: 2, lastLoss: straight[1], datasetId: null });
    await (await store.open(list[0].id)).verify();
    expect(await backend.partIds()).toEqual([list[0].id]); // the failed save left no parts
    expect(await engine.checkpoints.lossHistory(list[0].id)).toEqual(straight.slice(0, 2).map((loss, i) => ({ step: i + 1, loss })));
    console.log(`straight run of ${STEPS} steps with autosave: ${((performance.now() - t0) / 1000).toFixed(1)} s; losses ${straight.join(', ')}`);
  });

  it('a device destroyed mid-step: the run stops, the save in flight finishes, a new device comes up, resume is offered', async () => {
    events.length = 0;
    await engine.training.start({ steps: STEPS, settings: TINY });
    const session = engine.training.session!;
    const run = session.run;
    const oldRt: GpuRuntime = run.rt;
    // The step-2 checkpoint is written slowly: it is still being written when step 3 dies.
    const trainStep = run.trainer.trainStep.bind(run.trainer);
    run.trainer.trainStep = (mbs) => {
      if (run.trainer.step === 2) {
        backend.delayMs = 300;
        const p = trainStep(mbs); // forward and backward are recorded; the rest runs on a dead device
        oldRt.device.destroy();
        return p;
      }
      return trainStep(mbs);
    };
    await until(reached('failed'), 'the run to fail');
    const failedStatus = of('train-progress').find((e) => e.status.state === 'failed')!.status;
    expect(failedStatus.failure?.code).toBe('device-lost');
    expect(failedStatus.step).toBe(2);
    expect(of('device-lost').length).toBe(1);
    // No step 3 loss: the run stopped cleanly at the failed step.
    expect((await engine.training.history()).loss.map((p) => p.step)).toEqual([1, 2]);

    await until(() => of('resume-offer').length === 1, 'the resume offer');
    backend.delayMs = 0;
    const offer = of('resume-offer')[0].offer;
    expect(offer).toMatchObject({ deviceReady: true, reason: { code: 'device-lost' }, checkpoint: { step: 2, lossCount: 2 } });
    expect(await engine.checkpoints.resumeOffer()).toEqual(offer);
    // The save that was in flight is whole; the earlier run's checkpoint is untouched.
    const list = await engine.checkpoints.list();
    expect(list.map((c) => c.step)).toEqual([2, 2]);
    for (const c of list) await (await store.open(c.id)).verify();
    expect((await backend.partIds()).sort()).toEqual(list.map((c) => c.id).sort());
    // A new device: the engine answers again.
    expect((await engine.ledger()).budget).toBe(256 * MiB);
    expect(engine.training.session!.run.rt).toBe(oldRt);
    expect(oldRt.ctx!.lostError).not.toBeNull();
  });

  it('resuming from the offered checkpoint continues with the losses of the run that never stopped', async () => {
    const offer = (await engine.checkpoints.resumeOffer())!;
    events.length = 0;
    expect((await rejection(engine.checkpoints.restore(offer.checkpoint.id, { steps: 2 }))).code).toBe('bad-request');
    const started = await engine.checkpoints.restore(offer.checkpoint.id, { steps: STEPS });
    expect(started).toMatchObject({ state: 'running', step: 2 });
    expect(await engine.checkpoints.resumeOffer()).toBeNull();
    await until(reached('done'), 'the resumed run to finish');
    const resumed = (await engine.training.history()).loss;
    expect(resumed.map((p) => p.step)).toEqual([3, 4]);
    expect([...straight.slice(0, 2), ...resumed.map((p) => p.loss)]).toEqual(straight);
    // Its final checkpoint carries the whole history, the part before the device loss included.
    await until(() => of('checkpoint-saved').length === 1, 'the final save');
    const last = of('checkpoint-saved')[0].checkpoint;
    expect(last).toMatchObject({ step: 4, runId: offer.checkpoint.runId, lossCount: 4 });
    expect((await engine.checkpoints.lossHistory(last.id)).map((p) => p.loss)).toEqual(straight);
  });

  it('running out of GPU memory mid-run stops the run cleanly and offers its last checkpoint', async () => {
    events.length = 0;
    await engine.training.start({ steps: STEPS, settings: TINY });
    const run = engine.training.session!.run;
    const ledger = run.rt.ledger;
    const trainStep = run.trainer.trainStep.bind(run.trainer);
    run.trainer.trainStep = (mbs) => {
      if (run.trainer.step === 2) {
        // Step 3's activations no longer fit: nothing pooled, and the budget just above what is live.
        ledger.trim(0);
        ledger.budget = ledger.snapshot().live + 4096;
      }
      return trainStep(mbs);
    };
    await until(reached('failed'), 'the run to fail');
    await until(() => of('resume-offer').length === 1, 'the resume offer');
    const offer = of('resume-offer')[0].offer;
    expect(offer).toMatchObject({ deviceReady: true, reason: { code: 'budget-exceeded' }, checkpoint: { step: 2, lossCount: 2 } });
    expect(offer.reason.message).toMatch(/^GPU budget exceeded: /);
    await (await store.open(offer.checkpoint.id)).verify();
    expect((await engine.setBudget(256 * MiB)).live).toBe((await engine.ledger()).live);
  });

  it('exports a checkpoint as a Blob and loads weights strictly or partially into the next run', async () => {
    const [first] = await engine.checkpoints.list();
    const pt = await engine.checkpoints.export(first.id, 'pt');
    const st = await engine.checkpoints.export(first.id, 'safetensors');
    expect(new Uint8Array(await pt.slice(0, 2).arrayBuffer())).toEqual(new Uint8Array([0x50, 0x4b]));
    await engine.training.configure(TINY);
    const r = await engine.checkpoints.importWeights(st);
    expect(r).toMatchObject({ format: 'safetensors', appliesTo: 'next-run', loaded: 208, skipped: [], partial: false });
    const bad = await rejection(engine.checkpoints.importWeights(new Blob([new Uint8Array(16)])));
    expect(bad.code).toBe('bad-request');
    expect((await engine.checkpoints.storage()).checkpoints).toBe((await engine.checkpoints.list()).length);
    const pinned = await engine.checkpoints.pin(first.id, true);
    expect(pinned.pinned).toBe(true);
    await engine.checkpoints.delete(first.id);
    expect((await engine.checkpoints.list()).map((c) => c.id)).not.toContain(first.id);
  });

  it('stopping a paused run saves the steps since the last autosave before its memory goes', async () => {
    await engine.checkpoints.setAutosave({ everySteps: 1000, everyMinutes: null, keepLast: 2 });
    const before = new Set((await engine.checkpoints.list()).map((c) => c.id));
    await engine.training.start({ steps: 50, settings: TINY });
    await until(() => of('train-progress').some((e) => e.status.state === 'running' && e.status.step >= 1), 'a first step');
    const paused = await engine.training.pause();
    expect(paused.state).toBe('paused');
    expect((await engine.checkpoints.list()).filter((c) => !before.has(c.id))).toEqual([]);
    await engine.training.stop();
    await until(() => of('checkpoint-saved').some((e) => !before.has(e.checkpoint.id)), 'the save on stop');
    const saved = (await engine.checkpoints.list()).filter((c) => !before.has(c.id));
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ step: paused.step, auto: true, lossCount: paused.step });
    await (await store.open(saved[0].id)).verify();
  });
});
