// Exact resume of a UNet run (tiny preset on SwiftShader): N steps straight against N/2 steps, a checkpoint
// written to a directory store, everything disposed, a new runtime, restore, N/2 more: identical losses and
// weights, bit for bit. The same checkpoint then goes out through `lab export` (.pt that torch.load opens
// with weights_only=True, .safetensors with metadata) and back in through strict and partial imports.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../../src/io/dtype.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { readTorchCheckpoint } from '../../src/io/torch-pt.ts';
import { memorySource, StateDictMismatchError } from '../../src/nn/state-dict.ts';
import { DirCheckpointBackend } from '../../src/store/checkpoint-dir.ts';
import { CheckpointStore, MemoryCheckpointBackend, type CheckpointManifest, type PartRecord } from '../../src/store/checkpoint-store.ts';
import { Autosaver } from '../../src/train/autosave.ts';
import { EXPORT_FORMAT, importWeights, openWeights } from '../../src/train/checkpoint-export.ts';
import { capture, CheckpointMismatchError, MODEL_PREFIX, restore, type LossPoint, type TrainingSnapshot } from '../../src/train/checkpoint-state.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../../src/train/config.ts';
import { syntheticClips } from '../../src/train/synthetic-data.ts';
import { UnetTraining } from '../../src/train/unet-training.ts';
import { testRuntime } from '../helpers/gpu.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const PYTHON = '/usr/bin/python3';
const N = 4;

const tiny = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  ...DEFAULT_TRAIN,
  preset: 'unet-tiny',
  resolution: 64,
  frames: 2,
  audioTokens: 3,
  audioDim: 16,
  lr: 1e-3,
  weightDecay: 0,
  ...over,
});

/** Three clips, so that the data order (a permutation per epoch) is part of what must resume. */
const clipsFor = (c: TrainConfig) => syntheticClips({ clips: 3, frames: c.frames * 2 + 1, latentChannels: 4, height: c.resolution / 8, width: c.resolution / 8, tokens: c.audioTokens, dim: c.audioDim, seed: 5 });

const weightsOf = (run: UnetTraining) => Promise.all(run.trainer.masterWeights().map((t) => t.toArray()));
const sha = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

function lab(...args: string[]) {
  const r = spawnSync(process.execPath, ['--no-warnings', '--import', 'tsx', '--import', './tools/register-hooks.mjs', 'src/cli/lab.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const torchReason = ((): string | undefined => {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `${PYTHON} cannot import torch and numpy (install python3-torch)`;
})();

/** A memory medium that takes `delayMs` per batch of parts. */
class SlowBackend extends MemoryCheckpointBackend {
  constructor(readonly delayMs: number) {
    super();
  }
  override async putParts(id: string, parts: readonly PartRecord[]): Promise<void> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    return super.putParts(id, parts);
  }
}

/**
 * Autosave waits for the readback only: with a slow medium, save() resolves while the write goes on. A state
 * past hostCopyBytes streams from the GPU tensor by tensor instead and resolves once written. Both store
 * exactly what capture() read.
 */
async function saveWithoutWaiting(run: UnetTraining, snap: TrainingSnapshot) {
  const policy = { everySteps: 1, everyMinutes: null, keepLast: 5 };
  const opts = { partBytes: 256 * 1024, batchBytes: 256 * 1024 };
  const slow = new SlowBackend(100);
  const background = await new Autosaver(new CheckpointStore(slow, opts), policy, { runId: 'run-resume' }).save(run);
  expect(slow.manifests.size).toBe(0); // still being written: the caller could step meanwhile
  const streamed = new SlowBackend(0);
  const streaming = await new Autosaver(new CheckpointStore(streamed, opts), policy, { runId: 'run-resume', hostCopyBytes: 0 }).save(run);
  expect(streamed.manifests.size).toBe(1); // streamed: done when save() resolves
  for (const [backend, pending] of [[slow, background], [streamed, streaming]] as const) {
    const m = (await pending.written)!;
    const stored = await new CheckpointStore(backend).open(m.id);
    expect(stored.state).toEqual({ ...snap.state, runId: 'run-resume' });
    for (const t of snap.tensors) expect(sha(await stored.read(t.name)), t.name).toBe(sha(snap.data.get(t.name)!));
  }
}

describe('exact resume and export (tiny UNet, SwiftShader)', { timeout: 900_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'latent-lab-resume-'));
  const storeDir = join(dir, 'store');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = tiny();
  let straight: number[] = [];
  let saved: CheckpointManifest;

  it(`${N} steps straight = ${N / 2} steps, checkpoint, dispose, new runtime, restore, ${N / 2} steps (bit for bit)`, async () => {
    const t0 = performance.now();
    const a = new UnetTraining(await testRuntime(), cfg, clipsFor(cfg));
    for (let i = 0; i < N; i++) straight.push((await a.step()).loss);
    const straightWeights = await weightsOf(a);
    a.dispose();
    const tStraight = performance.now();

    const b = new UnetTraining(await testRuntime(), cfg, clipsFor(cfg));
    const history: LossPoint[] = [];
    for (let i = 0; i < N / 2; i++) {
      const r = await b.step();
      history.push({ step: r.step, loss: r.loss });
    }
    expect(b.order.length).toBe(1); // mid-epoch: the rest of the permutation must come back too
    const snap = await capture(b, { runId: 'run-resume', datasetId: null, lossHistory: history });
    await saveWithoutWaiting(b, snap);
    b.dispose();
    saved = await new CheckpointStore(new DirCheckpointBackend(storeDir)).save(snap, { label: 'half way' });
    expect(saved).toMatchObject({ step: N / 2, lossCount: N / 2, runId: 'run-resume' });

    // Nothing of b survives: a new store object on the same directory, a new runtime and ledger, a new run.
    const store = new CheckpointStore(new DirCheckpointBackend(storeDir));
    const ckpt = await store.open(saved.id);
    await ckpt.verify();
    expect(await ckpt.lossHistory()).toEqual(history);
    const c = new UnetTraining(await testRuntime(), cfg, clipsFor(cfg));
    await restore(c, ckpt);
    expect(c.trainer.step).toBe(N / 2);
    const resumed = history.map((p) => p.loss);
    for (let i = 0; i < N / 2; i++) resumed.push((await c.step()).loss);
    const resumedWeights = await weightsOf(c);
    c.dispose();

    expect(resumed).toEqual(straight);
    expect(resumedWeights.map(sha)).toEqual(straightWeights.map(sha));
    console.log(`resume: straight ${N} steps ${((tStraight - t0) / 1000).toFixed(1)} s, split run ${((performance.now() - tStraight) / 1000).toFixed(1)} s; losses ${straight.join(', ')}`);
  });

  it('restore lists config and tensor mismatches and writes nothing', async () => {
    const store = new CheckpointStore(new DirCheckpointBackend(storeDir));
    const ckpt = await store.open(saved.id);
    const other = new UnetTraining(await testRuntime(), tiny({ lr: 2e-3 }), clipsFor(cfg));
    const before = await weightsOf(other);
    const err = await restore(other, ckpt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointMismatchError);
    expect((err as Error).message).toContain('config.lr: checkpoint 0.001, run 0.002');
    const lying = { ...ckpt, state: ckpt.state, tensors: ckpt.tensors.map((t, i) => (i === 0 ? { ...t, shape: [1, ...t.shape] } : t)).slice(0, -1) };
    const err2 = await restore(other, lying, { allowConfigChange: true }).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/model\/conv_in.weight: checkpoint \[1, .*\], run \[/);
    expect((err2 as Error).message).toMatch(/optimizer\/step \[1\] is missing from the checkpoint/);
    expect((await weightsOf(other)).map(sha)).toEqual(before.map(sha));
    other.dispose();
  });

  it('lab export writes a LatentSync .pt and a .safetensors with the stored weights', async () => {
    const store = new CheckpointStore(new DirCheckpointBackend(storeDir));
    const ckpt = await store.open(saved.id);
    const want = new Map<string, Float32Array>();
    for (const t of ckpt.tensors) if (t.name.startsWith(MODEL_PREFIX)) want.set(t.name.slice(MODEL_PREFIX.length), await ckpt.read(t.name));

    const pt = join(dir, 'unet.pt');
    const st = join(dir, 'unet.safetensors');
    const r1 = lab('export', '--checkpoint', storeDir, '--format', 'pt', '--out', pt);
    expect(r1.status, r1.stderr).toBe(0);
    expect(r1.stdout).toContain(`checkpoint ${saved.id} (step ${N / 2}, unet-tiny)`);
    const r2 = lab('export', '--checkpoint', join(storeDir, saved.id), '--out', st);
    expect(r2.status, r2.stderr).toBe(0);
    expect(lab('export', '--checkpoint', dir, '--out', join(dir, 'x.pt')).stderr).toMatch(/holds no whole checkpoint/);

    const torch = await readTorchCheckpoint(readFileSync(pt));
    expect(torch.globalStep).toBe(N / 2);
    const safe = readSafetensors(readFileSync(st));
    expect(safe.metadata).toMatchObject({ format: EXPORT_FORMAT, step: String(N / 2), preset: 'unet-tiny', run_id: 'run-resume' });
    expect(JSON.parse(safe.metadata.train_config)).toEqual(cfg);
    expect(JSON.parse(safe.metadata.config)).toMatchObject({ block_out_channels: expect.any(Array) });
    for (const file of [torch.tensors, safe.tensors]) {
      expect([...file.keys()]).toEqual([...want.keys()]);
      for (const [name, v] of want) expect(sha(file.get(name)!.data), name).toBe(sha(v));
    }
  });

  it.skipIf(torchReason !== undefined)(`torch.load(weights_only=True) opens the exported .pt with the same tensors${torchReason ? ` [skipped: ${torchReason}]` : ''}`, async () => {
    const store = new CheckpointStore(new DirCheckpointBackend(storeDir));
    const ckpt = await store.open(saved.id);
    const want: Record<string, [number[], string]> = {};
    for (const t of ckpt.tensors) if (t.name.startsWith(MODEL_PREFIX)) want[t.name.slice(MODEL_PREFIX.length)] = [[...t.shape], sha(await ckpt.read(t.name))];
    const script = [
      'import hashlib, json, sys, torch',
      'ck = torch.load(sys.argv[1], map_location="cpu", weights_only=True)',
      'sd = ck["state_dict"]',
      'print(json.dumps({"global_step": ck["global_step"], "keys": list(ck.keys()), "tensors": {k: [list(v.shape), str(v.dtype), hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest()] for k, v in sd.items()}}))',
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', script, join(dir, 'unet.pt')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { global_step: number; keys: string[]; tensors: Record<string, [number[], string, string]> };
    expect(got.keys).toEqual(['global_step', 'state_dict']);
    expect(got.global_step).toBe(N / 2);
    expect(Object.keys(got.tensors)).toEqual(Object.keys(want));
    for (const [name, [shape, hash]] of Object.entries(want)) expect(got.tensors[name], name).toEqual([shape, 'torch.float32', hash]);
  });

  it('imports both formats strictly; mismatches are listed; a partial load only when asked', async () => {
    const run = new UnetTraining(await testRuntime(), tiny({ seed: 99 }), clipsFor(cfg));
    const store = new CheckpointStore(new DirCheckpointBackend(storeDir));
    const ckpt = await store.open(saved.id);
    const names = [...run.model.namedParameters()].map(([n]) => n);
    const want = await Promise.all(names.map((n) => ckpt.read(MODEL_PREFIX + n)));
    const seeded = (await weightsOf(run)).map(sha);
    for (const file of ['unet.pt', 'unet.safetensors']) {
      for (const t of run.trainer.masterWeights()) run.rt.upload(t.buffer, new Float32Array(t.numel)); // each import starts from zeros
      const report = await importWeights(run, await openWeights(readFileSync(join(dir, file))));
      expect(report).toMatchObject({ ok: true, loaded: names.length, skipped: [], partial: false });
      expect((await weightsOf(run)).map(sha)).toEqual(want.map(sha));
    }
    expect(seeded).not.toEqual(want.map(sha));

    // A file with one tensor renamed, one reshaped and one extra: refused, listed, nothing written.
    const sd = new Map<string, TensorData>(names.map((n, i) => [n, { dtype: 'F32', shape: [...run.model.parameter(n)!.shape], data: want[i].map((x) => x + 1) }]));
    const [renamed, reshaped] = [names[0], names[1]];
    sd.set(`${renamed}.old`, sd.get(renamed)!);
    sd.delete(renamed);
    sd.set(reshaped, { dtype: 'F32', shape: [sd.get(reshaped)!.data.byteLength / 4, 1, 1, 1].slice(0, 2), data: sd.get(reshaped)!.data });
    sd.set('extra.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    const file = openWeights(writeSafetensors(sd));
    const err = await importWeights(run, await file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDictMismatchError);
    const msg = (err as Error).message;
    expect(msg).toContain(`missing from the file:\n  ${renamed}`);
    expect(msg).toMatch(new RegExp(`unexpected in the file:\\n  (${renamed}.old|extra.weight)`));
    expect(msg).toContain(`${reshaped}: model [`);
    expect((await weightsOf(run)).map(sha)).toEqual(want.map(sha));

    const partial = await importWeights(run, await openWeights(writeSafetensors(sd)), { partial: true });
    expect(partial.loaded).toBe(names.length - 2);
    expect(partial.skipped.map((s) => [s.name, s.why]).sort()).toEqual(
      [[renamed, 'missing from the file'], [`${renamed}.old`, 'not in the model'], ['extra.weight', 'not in the model'], [reshaped, 'wrong shape']].sort(),
    );
    const after = await weightsOf(run);
    names.forEach((n, i) => {
      if (n === renamed || n === reshaped) expect(sha(after[i]), n).toBe(sha(want[i]));
      else expect(sha(after[i]), n).toBe(sha(want[i].map((x) => x + 1)));
    });
    await expect(importWeights(run, memorySource(new Map([['nothing', { dtype: 'F32', shape: [1], data: new Float32Array(1) }]])), { partial: true })).rejects.toThrow(StateDictMismatchError);
    run.dispose();
  });
});

describe('exact resume with f16 activations and half-precision weight copies', { timeout: 900_000 }, () => {
  it('2 steps straight = 1 step, checkpoint (memory store), restore into a new run, 1 step', async () => {
    const cfg = tiny({ precision: 'f16', ...({ halfWeightCopy: true } as Partial<TrainConfig>) });
    const a = new UnetTraining(await testRuntime(), cfg, clipsFor(cfg));
    const straight = [(await a.step()).loss, (await a.step()).loss];
    const straightCopies = await Promise.all([...a.model.namedParameters()].map(([, p]) => p.t.toArray()));
    a.dispose();
    const b = new UnetTraining(await testRuntime(), cfg, clipsFor(cfg));
    const first = (await b.step()).loss;
    const store = CheckpointStore.memory();
    const m = await store.save(await capture(b, { runId: 'run-f16' }));
    b.dispose();
    const c = new UnetTraining(await testRuntime(), cfg, clipsFor(cfg));
    await restore(c, await store.open(m.id));
    expect(c.trainer.state).toEqual(m.state.trainer);
    const second = (await c.step()).loss;
    const copies = await Promise.all([...c.model.namedParameters()].map(([, p]) => p.t.toArray()));
    c.dispose();
    expect([first, second]).toEqual(straight);
    expect(copies.map(sha)).toEqual(straightCopies.map(sha));
  });
});
