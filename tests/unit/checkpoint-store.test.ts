// The checkpoint store without a GPU: manifest-last commits, partial saves ignored and collected, quota
// failures that leave earlier checkpoints intact, pin and prune, damage detection; memory and directory
// backends; the autosave policy.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirCheckpointBackend, openDirStore } from '../../src/store/checkpoint-dir.ts';
import {
  CheckpointDamagedError,
  CheckpointQuotaError,
  CheckpointStore,
  MemoryCheckpointBackend,
  type CheckpointBackend,
  type PartRecord,
} from '../../src/store/checkpoint-store.ts';
import { autosaveDue, pruneSelection, type AutosavePolicy } from '../../src/train/autosave.ts';
import { SNAPSHOT_FORMAT, type TrainingSnapshot } from '../../src/train/checkpoint-state.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../../src/train/config.ts';

/** Small parts and batches, so that splitting and several transactions happen on small data. */
const PART = 256;
const small = { partBytes: PART, batchBytes: 2 * PART };
const config: TrainConfig = { ...DEFAULT_TRAIN, preset: 'unet-tiny', resolution: 64, frames: 2, audioTokens: 3, audioDim: 16 };

/** A snapshot with made-up tensors; `big` adds one tensor larger than a part. */
function snapshot(step: number, runId = 'run-a', big = false): TrainingSnapshot {
  const shapes: [string, number[]][] = [
    ['model/conv_in.weight', [4, 13, 3, 3]],
    ['model/conv_in.bias', [4]],
    ['optimizer/exp_avg/conv_in.weight', [4, 13, 3, 3]],
    ['optimizer/step', [1]],
  ];
  if (big) shapes.push(['model/huge', [PART / 4 + 5]]);
  const data = new Map(shapes.map(([n, s], k) => [n, Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => step * 1000 + k + i * 0.5)]));
  return {
    state: { format: SNAPSHOT_FORMAT, config, trainer: { step, scaler: { scale: 1, cleanSteps: step, skipped: 0 } }, rng: { words: [1, 2, 3, step], spare: null }, order: [0], datasetId: 'ds-1', runId },
    tensors: shapes.map(([name, shape]) => ({ name, shape })),
    lossHistory: Array.from({ length: step }, (_, i) => ({ step: i + 1, loss: 1 / (i + 1) })),
    data,
    read: async (n) => data.get(n)!,
  };
}

async function expectSame(store: CheckpointStore, id: string, snap: TrainingSnapshot) {
  const c = await store.open(id);
  await c.verify();
  expect(c.state).toEqual(snap.state);
  for (const t of snap.tensors) expect(await c.read(t.name)).toEqual(snap.data.get(t.name));
  expect(await c.lossHistory()).toEqual(snap.lossHistory);
}

/** Fails every write after `okWrites` part batches with the error a full disk or browser gives. */
class FullBackend extends MemoryCheckpointBackend {
  constructor(public okWrites: number) {
    super();
  }
  override putParts(id: string, parts: readonly PartRecord[]): Promise<void> {
    if (this.okWrites-- <= 0) return Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'));
    return super.putParts(id, parts);
  }
}

describe('checkpoint store (memory)', () => {
  it('saves tensor by tensor and reads back exactly, manifest last', async () => {
    const backend = new MemoryCheckpointBackend();
    const store = new CheckpointStore(backend, small);
    const seen: number[] = [];
    store.afterBatch = async (id) => {
      seen.push(backend.parts.get(id)!.size);
      expect(backend.manifests.has(id)).toBe(false); // nothing listed before the last part is down
      expect(await store.list()).toEqual([]);
    };
    const snap = snapshot(3, 'run-a', true);
    const m = await store.save(snap, { label: 'first' });
    expect(seen.length).toBeGreaterThan(0);
    expect(m).toMatchObject({ step: 3, label: 'first', pinned: false, runId: 'run-a', datasetId: 'ds-1', preset: 'unet-tiny', lossCount: 3, lastLoss: 1 / 3 });
    expect(m.blobs.find((b) => b.name === 'model/huge')!.parts).toBe(2);
    expect((await store.list()).map((x) => x.id)).toEqual([m.id]);
    await expectSame(store, m.id, snap);
  });

  it('ignores a save that never finished and collects its parts', async () => {
    const backend = new MemoryCheckpointBackend();
    const store = new CheckpointStore(backend, small);
    const good = await store.save(snapshot(2));
    // A save dies after its first batch (a closed tab): parts, no manifest.
    store.afterBatch = () => Promise.reject(new Error('tab closed'));
    await expect(store.save(snapshot(4, 'run-a', true))).rejects.toThrow('tab closed');
    store.afterBatch = null;
    // Simulate the page dying before its cleanup ran: parts of a checkpoint that has no manifest.
    await backend.putParts('ckpt-00000004-dead', [{ blob: 0, part: 0, data: new Uint8Array(8) }]);
    expect((await store.list()).map((m) => m.id)).toEqual([good.id]);
    expect(await store.gc()).toBe(1);
    expect(await backend.partIds()).toEqual([good.id]);
    await expectSame(store, good.id, snapshot(2));
  });

  it('a full store gives a clear error and leaves earlier checkpoints intact', async () => {
    const backend = new FullBackend(1000);
    const store = new CheckpointStore(backend, small);
    const a = await store.save(snapshot(1));
    const b = await store.save(snapshot(2));
    backend.okWrites = 1; // the next save gets one batch down, then the disk is full
    const err = await store.save(snapshot(3, 'run-a', true)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointQuotaError);
    expect((err as Error).message).toMatch(/Not enough storage to save the checkpoint at step 3: it needs .*Earlier checkpoints are intact.*Delete unpinned checkpoints/);
    expect((await store.list()).map((m) => m.id)).toEqual([a.id, b.id]);
    expect(await backend.partIds()).toEqual([a.id, b.id]); // the failed one's parts are gone
    await expectSame(store, a.id, snapshot(1));
    await expectSame(store, b.id, snapshot(2));
  });

  it('detects damage: a missing part, a changed byte', async () => {
    const backend = new MemoryCheckpointBackend();
    const store = new CheckpointStore(backend, small);
    const m = await store.save(snapshot(2));
    backend.parts.get(m.id)!.get('1/0')![0] ^= 1;
    await expect((await store.open(m.id)).read('model/conv_in.bias')).rejects.toThrow(CheckpointDamagedError);
    backend.parts.get(m.id)!.delete('0/0');
    await expect((await store.open(m.id)).verify()).rejects.toThrow(/part 0 of model\/conv_in.weight is missing/);
  });

  it('pins, renames and prunes the last K of a run, keeping pinned ones and other runs', async () => {
    const store = CheckpointStore.memory(small);
    const ids: string[] = [];
    for (let s = 1; s <= 5; s++) ids.push((await store.save(snapshot(s), { auto: true })).id);
    const other = await store.save(snapshot(1, 'run-b'));
    await store.pin(ids[0]);
    expect((await store.rename(ids[1], 'keep me?')).label).toBe('keep me?');
    expect(await store.prune('run-a', 2)).toEqual([ids[2], ids[1]]);
    expect((await store.list()).map((m) => m.id).sort()).toEqual([ids[0], ids[3], ids[4], other.id].sort());
    expect((await store.latest('run-a'))!.id).toBe(ids[4]);
    await store.delete(ids[4]);
    expect((await store.latest('run-a'))!.id).toBe(ids[3]);
    await expect(store.open(ids[4])).rejects.toThrow(/no checkpoint/);
  });
});

describe('checkpoint store (directory)', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('same rules on files: manifest renamed into place last, orphans collected, user folders left alone', async () => {
    const root = await mkdtemp(join(tmpdir(), 'latent-lab-ckpt-'));
    dirs.push(root);
    const store = new CheckpointStore(new DirCheckpointBackend(root), small);
    const a = await store.save(snapshot(2, 'run-a', true));
    store.afterBatch = () => Promise.reject(new Error('killed'));
    await expect(store.save(snapshot(3))).rejects.toThrow('killed');
    // What a killed process leaves: parts and a half-written manifest under its temporary name.
    const backend = store.backend as DirCheckpointBackend;
    await backend.putParts('ckpt-00000003-x', [{ blob: 0, part: 0, data: new Uint8Array(4) }]);
    await writeFile(join(root, 'ckpt-00000003-x', 'manifest.json.tmp'), '{"id":');
    await writeFile(join(root, 'notes.txt'), 'mine');
    await (await import('node:fs/promises')).mkdir(join(root, 'my-folder'));
    const reopened = await openDirStore(root);
    expect((await reopened.list()).map((m) => m.id)).toEqual([a.id]);
    expect((await readdir(root)).sort()).toEqual([a.id, 'my-folder', 'notes.txt'].sort());
    await expectSame(reopened, a.id, snapshot(2, 'run-a', true));
    await reopened.pin(a.id);
    expect((await openDirStore(root).then((s) => s.list()))[0].pinned).toBe(true);
  });

  it('ENOSPC is a quota error and earlier checkpoints stay', async () => {
    const root = await mkdtemp(join(tmpdir(), 'latent-lab-ckpt-'));
    dirs.push(root);
    const backend = new DirCheckpointBackend(root);
    const store = new CheckpointStore(backend, small);
    const a = await store.save(snapshot(1));
    const full: CheckpointBackend = Object.assign(Object.create(backend) as DirCheckpointBackend, {
      putParts: () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })),
    });
    const store2 = new CheckpointStore(full, small);
    await expect(store2.save(snapshot(2))).rejects.toThrow(CheckpointQuotaError);
    expect((await store.list()).map((m) => m.id)).toEqual([a.id]);
    await expectSame(store, a.id, snapshot(1));
  });
});

describe('autosave policy', () => {
  const policy: AutosavePolicy = { everySteps: 10, everyMinutes: 5, keepLast: 2 };
  it('saves every N steps or M minutes, whichever comes first, never twice at one step', () => {
    expect(autosaveDue(policy, { step: 0, at: 0 }, { step: 9, at: 1000 })).toBe(false);
    expect(autosaveDue(policy, { step: 0, at: 0 }, { step: 10, at: 1000 })).toBe(true);
    expect(autosaveDue(policy, { step: 0, at: 0 }, { step: 1, at: 5 * 60_000 })).toBe(true);
    expect(autosaveDue(policy, { step: 3, at: 0 }, { step: 3, at: 60 * 60_000 })).toBe(false);
    expect(autosaveDue({ ...policy, everySteps: null }, { step: 0, at: 0 }, { step: 100, at: 1 })).toBe(false);
    expect(autosaveDue({ ...policy, everyMinutes: null }, { step: 0, at: 0 }, { step: 5, at: 1e9 })).toBe(false);
  });
  it('keeps the newest K unpinned checkpoints of a run', () => {
    const c = (id: string, step: number, pinned = false, runId = 'r') => ({ id, runId, step, createdAt: step, pinned });
    expect(pruneSelection([c('a', 1), c('b', 2, true), c('c', 3), c('d', 4), c('e', 5, false, 'other')], 'r', 1)).toEqual(['c', 'a']);
    expect(pruneSelection([c('a', 1), c('c', 3), c('d', 4)], 'r', 0)).toEqual(['d', 'c', 'a']);
  });
});
