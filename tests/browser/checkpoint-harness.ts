// The page of the checkpoint browser tests: the real engine worker (window.lab, a Comlink proxy) and, in
// the page itself, the IndexedDB checkpoint store with helpers to write made-up checkpoints slowly (so a
// test can close the page while one is being written) and to inspect what IndexedDB holds.
// Built by tests/browser/checkpoint-store.test.ts, not part of the app.
import * as Comlink from 'comlink';
import { CheckpointStore, IdbCheckpointBackend } from '../../src/store/checkpoint-store.ts';
import { SNAPSHOT_FORMAT, type TrainingSnapshot } from '../../src/train/checkpoint-state.ts';
import { DEFAULT_TRAIN } from '../../src/train/config.ts';
import type { LabEngine, RunState } from '../../src/worker/api.ts';

const worker = new Worker(new URL('../../src/worker/lab.worker.ts', import.meta.url), { type: 'module' });
// Comlink reaches nested services (lab.training.status()) at run time; typed as the engine the tests call.
const lab = Comlink.wrap(worker) as unknown as LabEngine;

/** A made-up snapshot of `floats` values per tensor, 4 tensors, values derived from the step. */
function fakeSnapshot(step: number, floats: number): TrainingSnapshot {
  const names = ['model/a', 'model/b', 'optimizer/exp_avg/a', 'optimizer/step'];
  const data = new Map(names.map((n, k) => [n, Float32Array.from({ length: n === 'optimizer/step' ? 1 : floats }, (_, i) => step * 1e4 + k * 100 + (i % 97))]));
  return {
    state: {
      format: SNAPSHOT_FORMAT,
      config: { ...DEFAULT_TRAIN, preset: 'unet-tiny', resolution: 32, audioTokens: 4, audioDim: 16 },
      trainer: { step, scaler: { scale: 1, cleanSteps: step, skipped: 0 } },
      rng: { words: [1, 2, 3, 4], spare: null },
      order: [],
      datasetId: null,
      runId: 'run-browser',
    },
    tensors: names.map((name) => ({ name, shape: [data.get(name)!.length] })),
    lossHistory: [{ step, loss: 1 / step }],
    data,
    read: async (n) => data.get(n)!,
  };
}

const small = { partBytes: 64 * 1024, batchBytes: 64 * 1024 };
let store: CheckpointStore | null = null;
const progress = { batches: 0, id: '' };

const ckpt = {
  progress,
  async open(): Promise<number> {
    store = new CheckpointStore((await CheckpointStore.openIdb()).backend, small);
    return (await store.list()).length;
  },
  /** Saves a whole checkpoint; `slowMs` waits after each batch (the test closes the page meanwhile). */
  async save(step: number, floats: number, slowMs = 0): Promise<string> {
    store!.afterBatch = async (id) => {
      progress.id = id;
      progress.batches++;
      if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
    };
    return (await store!.save(fakeSnapshot(step, floats))).id;
  },
  async list(): Promise<{ id: string; step: number }[]> {
    return (await store!.list()).map((m) => ({ id: m.id, step: m.step }));
  },
  /** Reads every byte back and checks it against the values it was saved with. */
  async check(id: string, floats: number): Promise<boolean> {
    const c = await store!.open(id);
    await c.verify();
    const want = fakeSnapshot(c.state.trainer.step, floats);
    for (const t of want.tensors) {
      const got = await c.read(t.name);
      const exp = want.data.get(t.name)!;
      if (got.length !== exp.length || got.some((v, i) => v !== exp[i])) return false;
    }
    return true;
  },
  /** What IndexedDB holds, before any gc: ids with parts, ids with manifests. */
  async raw(): Promise<{ parts: string[]; manifests: string[] }> {
    const b = await IdbCheckpointBackend.open();
    const out = { parts: await b.partIds(), manifests: (await b.listManifests()).map((m) => m.id) };
    b.close();
    return out;
  },
  /** Makes IndexedDB refuse writes after `okPuts` more puts, as a full disk does. */
  failWritesAfter(okPuts: number): void {
    const put = IDBObjectStore.prototype.put;
    let left = okPuts;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
      if (this.name === 'parts' && left-- <= 0) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.apply(this, args);
    };
  },
};

/** Polls the engine until the run reaches one of `states` (events would need proxies; polling is enough). */
async function waitFor(states: RunState[], ms = 600_000): Promise<RunState> {
  const t0 = Date.now();
  for (;;) {
    const s = (await lab.training.status()).state;
    if (states.includes(s)) return s;
    if (Date.now() - t0 > ms) throw new Error(`timed out in state ${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Object.assign(window, { lab, Comlink, ckpt, waitFor, harnessReady: true });
