// The page of the data browser tests: starts the real engine worker (src/worker/lab.worker.ts) and
// exposes its Comlink proxy as window.lab, with Comlink itself for progress callbacks. The tests
// drive it with page.evaluate. For checks the protocol does not offer, window.inspect opens the
// same IndexedDB database from the page and measures frames. Built by tests/browser/data-setup.ts,
// not part of the app.
import * as Comlink from 'comlink';
import { DatasetStore, DB_NAME } from '../../src/store/dataset-store.ts';
import type { LabEngine } from '../../src/worker/api.ts';

const worker = new Worker(new URL('../../src/worker/lab.worker.ts', import.meta.url), { type: 'module' });
const lab = Comlink.wrap<LabEngine>(worker);

/** Records per object store for one clip (or all of them). */
async function recordCounts(clipId?: string): Promise<Record<string, number>> {
  const db = await new Promise<IDBDatabase>((ok, fail) => {
    const r = indexedDB.open(DB_NAME);
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  const count = (store: string, key?: IDBKeyRange | string) =>
    new Promise<number>((ok, fail) => {
      const r = db.transaction(store).objectStore(store).count(key);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
  const range = clipId ? IDBKeyRange.bound([clipId], [clipId, []]) : undefined;
  const out = {
    frames: await count('frames', range),
    latents: await count('latents', range),
    audio: await count('audio', clipId),
    clips: await count('clips', clipId),
    datasets: await count('datasets'),
  };
  db.close();
  return out;
}

/**
 * Per stored frame, how much of the drawn mouth is open: pixels inside `box` (x, y, w, h in the
 * stored frame's pixels) that are the dark mouth interior or the teeth.
 */
async function mouthAreas(clipId: string, frames: number, box: [number, number, number, number]): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < frames; k++) {
    const { size, rgb } = await lab.datasets.frame(clipId, k);
    const [x0, y0, w, h] = box.map(Math.round);
    let n = 0;
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) {
      const p = (y * size + x) * 3;
      const r = rgb[p]!, g = rgb[p + 1]!;
      if (r < 125 || (g > 215 && r > 215)) n++;
    }
    out.push(n);
  }
  return out;
}

/** RMS of the stored 16 kHz audio over [t, t + duration) for each start t (seconds; clip time). */
async function audioRms(clipId: string, starts: number[], duration: number): Promise<number[]> {
  const store = await DatasetStore.open();
  try {
    const rec = await store.readAudio(clipId);
    if (!rec) return [];
    return starts.map((t) => {
      const a = Math.max(0, Math.round(t * 16000)), b = Math.min(rec.pcm.length, Math.round((t + duration) * 16000));
      let e = 0;
      for (let i = a; i < b; i++) e += rec.pcm[i]! ** 2;
      return b > a ? Math.sqrt(e / (b - a)) : 0;
    });
  } finally {
    store.close();
  }
}

async function clipLatents(clipId: string, frames: number[]) {
  const store = await DatasetStore.open();
  try {
    const c = await store.clipLatents(clipId);
    return {
      frames: c.frames,
      shape: c.shape,
      audioShape: c.audioShape,
      mask: Array.from(c.mask),
      latents: frames.map((f) => Array.from(c.latents(f))),
      masked: frames.map((f) => Array.from(c.maskedLatents(f))),
      audio: frames.map((f) => (c.audio(f) ? Array.from(c.audio(f)!) : null)),
    };
  } finally {
    store.close();
  }
}

Object.assign(window, { lab, Comlink, inspect: { recordCounts, mouthAreas, audioRms, clipLatents, DB_NAME }, harnessReady: true });
