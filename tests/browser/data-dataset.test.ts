// The dataset store in headless chromium, through the engine worker: a dataset survives a reload,
// deleting a clip deletes all its records and nothing else, storage is reported, the latent cache
// (with the pooling stand-in until the VAE lands) gives the trainer its latents, masks and audio
// tokens, records of an unfinished ingest are collected, and a Whisper encoder exported to ONNX
// (a tiny one built here) gives LatentSync's stacked-layer tokens through onnxruntime-web.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyEncoder } from '../unit/data-whisper-model.ts';
import { openHarness, type Harness } from './data-setup.ts';

type Any = any; // page-side values
const lab = (page: Page, fn: string, ...args: unknown[]) =>
  page.evaluate(async ({ fn, args }) => {
    const ds = (window as Any).lab.datasets;
    try {
      return { ok: true, value: await ds[fn](...args) };
    } catch (failure) {
      return { ok: false, failure };
    }
  }, { fn, args }) as Promise<{ ok: boolean; value?: Any; failure?: Any }>;

async function ok(page: Page, fn: string, ...args: unknown[]): Promise<Any> {
  const r = await lab(page, fn, ...args);
  if (!r.ok) throw new Error(`${fn}: ${JSON.stringify(r.failure)}`);
  return r.value;
}

const addClip = (page: Page, datasetId: string, file: string) =>
  page.evaluate(async ({ datasetId, file }) => {
    const blob = await (await fetch(`../../clips/${file}`)).blob();
    try {
      return { ok: true, value: await (window as Any).lab.datasets.addClip(datasetId, blob, { name: file }) };
    } catch (failure) {
      return { ok: false, failure };
    }
  }, { datasetId, file }) as Promise<{ ok: boolean; value?: Any; failure?: Any }>;

const counts = (page: Page, clipId?: string) => page.evaluate((id) => (window as Any).inspect.recordCounts(id), clipId) as Promise<Record<string, number>>;
const frameBytes = (page: Page, clipId: string, k: number) => page.evaluate(async ({ clipId, k }) => Array.from((await (window as Any).lab.datasets.frame(clipId, k)).rgb as Uint8Array), { clipId, k }) as Promise<number[]>;

async function reload(page: Page) {
  await page.reload();
  await page.waitForFunction(() => (window as Any).harnessReady === true);
}

describe('datasets in IndexedDB (headless chromium, engine worker)', () => {
  let h: Harness;
  let page: Page;
  let datasetId: string;
  let demo: Any, silent: Any;

  beforeAll(async () => {
    h = await openHarness();
    page = h.page;
  });

  afterAll(async () => {
    await h?.close();
  });

  it('keeps a dataset and its clips across a reload', async () => {
    datasetId = (await ok(page, 'create', 'kept', { resolution: 256 })).id;
    demo = (await addClip(page, datasetId, 'public-demo.mp4')).value;
    silent = (await addClip(page, datasetId, 'no-audio.mp4')).value;
    expect(demo.frames).toBe(188);
    expect(silent.frames).toBe(188);
    const before = await frameBytes(page, demo.id, 100);
    await reload(page);
    const list = await ok(page, 'list');
    const ds = list.find((d: Any) => d.id === datasetId);
    expect(ds.name).toBe('kept');
    expect(ds.clipIds).toEqual([demo.id, silent.id]);
    expect(ds.config).toMatchObject({ resolution: 256, fps: 25, audio: { kind: 'logmel', nMels: 80 }, window: { left: 2, right: 2 } });
    const clips = await ok(page, 'clips', datasetId);
    expect(clips.map((c: Any) => [c.name, c.frames])).toEqual([['public-demo.mp4', 188], ['no-audio.mp4', 188]]);
    expect(await frameBytes(page, demo.id, 100)).toEqual(before);
  });

  it('reports storage: the origin estimate and each dataset by its own count', async () => {
    const s = await ok(page, 'storage');
    const mine = s.datasets.find((d: Any) => d.id === datasetId);
    // two clips of 188 frames at 256 px RGB, plus one clip's audio and log-mel
    const frames = 2 * 188 * 256 * 256 * 3;
    const audio = 188 * 640 * 4 + 80 * 188 * 4 * 4;
    expect(mine).toMatchObject({ name: 'kept', clips: 2, bytes: frames + audio });
    // the origin's usage includes our records; chromium compresses IndexedDB values, so it can be less
    expect(s.usage).toBeGreaterThan(0);
    expect(s.quota).toBeGreaterThan(s.usage);
    console.log(`[data] storage: usage ${(s.usage / 2 ** 20).toFixed(1)} MiB of ${(s.quota / 2 ** 30).toFixed(1)} GiB; dataset ${(mine.bytes / 2 ** 20).toFixed(1)} MiB`);
  });

  it('caches latents once (stand-in encoder) and hands the trainer latents, masks and tokens', async () => {
    const metas = await ok(page, 'cacheLatents', datasetId, { standIn: true });
    expect(metas.map((m: Any) => m.latents)).toEqual([
      { encoder: 'stand-in:avgpool8', shape: [4, 32, 32], frames: 188 },
      { encoder: 'stand-in:avgpool8', shape: [4, 32, 32], frames: 188 },
    ]);
    expect((await counts(page, demo.id)).latents).toBe(12); // ceil(188 / 16) chunks
    const c = await page.evaluate(({ id }) => (window as Any).inspect.clipLatents(id, [0, 100, 187]), { id: demo.id });
    expect(c.frames).toBe(188);
    expect(c.shape).toEqual([4, 32, 32]);
    expect(c.audioShape).toEqual([20, 80]);
    // latent mask: rows 16..31 masked between 2 kept columns on each side (the default mask)
    expect(c.mask.length).toBe(1024);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) expect(c.mask[y * 32 + x]).toBe(y >= 16 && x >= 2 && x < 30 ? 0 : 1);
    // stand-in latents: channel 0 at (0, 0) is the mean red of the top-left 8x8 block, in [-1, 1]
    const rgb = await frameBytes(page, demo.id, 100);
    let red = 0;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) red += rgb[(y * 256 + x) * 3]! / 127.5 - 1;
    expect(c.latents[1][0]).toBeCloseTo(red / 64, 5);
    // masked latents: the same above the mask, mid-grey (0) over it
    expect(c.masked[1][0]).toBeCloseTo(c.latents[1][0], 6);
    expect(c.masked[1][20 * 32 + 16]).toBe(0);
    expect(c.latents[1][20 * 32 + 16]).not.toBe(0);
    // audio tokens: 20 log-mel frames x 80 bins per frame
    expect(c.audio[1].length).toBe(1600);
    // the no-audio clip has latents but no tokens: VAE only
    const s = await page.evaluate(({ id }) => (window as Any).inspect.clipLatents(id, [5]), { id: silent.id });
    expect(s.audio).toEqual([null]);
    const ready = await ok(page, 'readiness', datasetId);
    expect(ready.map((r: Any) => r.unet === null)).toEqual([true, false]);
    // a second call finds the cache and encodes nothing
    const again = await ok(page, 'cacheLatents', datasetId, { standIn: true });
    expect(again[0].storedBytes).toBe(metas[0].storedBytes);
  });

  it('deletes a clip with all its records, and nothing else', async () => {
    const other = await counts(page, demo.id);
    expect(await counts(page, silent.id)).toMatchObject({ frames: 12, latents: 12, audio: 0, clips: 1 });
    await ok(page, 'removeClip', silent.id);
    expect(await counts(page, silent.id)).toMatchObject({ frames: 0, latents: 0, audio: 0, clips: 0 });
    expect(await counts(page, demo.id)).toEqual(other);
    const ds = (await ok(page, 'list')).find((d: Any) => d.id === datasetId);
    expect(ds.clipIds).toEqual([demo.id]);
    await reload(page);
    expect((await ok(page, 'clips', datasetId)).map((c: Any) => c.id)).toEqual([demo.id]);
  });

  it('collects the records of an ingest that never finished (a tab closed mid-way)', async () => {
    await page.evaluate(async (name) => {
      const db = await new Promise<IDBDatabase>((ok) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => ok(r.result);
      });
      const tx = db.transaction(['frames', 'audio'], 'readwrite');
      tx.objectStore('frames').put({ clipId: 'orphan', chunk: 0, count: 1, rgb: new Uint8Array(10) });
      tx.objectStore('audio').put({ clipId: 'orphan', pcm: new Float32Array(4), features: new Float32Array(4), featureShape: [2, 2] });
      await new Promise((ok) => (tx.oncomplete = ok));
      db.close();
    }, (await page.evaluate(() => (window as Any).inspect.DB_NAME)) as string);
    expect(await counts(page, 'orphan')).toMatchObject({ frames: 1, audio: 1 });
    await reload(page);
    await ok(page, 'list'); // the worker opens the store and collects
    expect(await counts(page, 'orphan')).toMatchObject({ frames: 0, audio: 0 });
    expect((await counts(page, demo.id)).frames).toBe(12);
  });

  it('runs a Whisper encoder exported to ONNX: 5 stacked layers, 50 tokens a frame', async () => {
    const model = Array.from(buildTinyEncoder({ dim: 16, layers: 5, hiddenStates: true }));
    const info = await page.evaluate(async (bytes) => {
      try {
        return { ok: true, value: await (window as Any).lab.datasets.setAudioEncoder(new Uint8Array(bytes).buffer, 'tiny-whisper.onnx') };
      } catch (failure) {
        return { ok: false, failure };
      }
    }, model);
    if (!info.ok) throw new Error(JSON.stringify(info.failure));
    expect(info.value).toMatchObject({ name: 'tiny-whisper.onnx', inputName: 'input_features', layers: 5, dim: 16, nMels: 80, stepsPerWindow: 1500 });
    expect(['webgpu', 'wasm']).toContain(info.value.provider);
    console.log(`[data] ONNX encoder ran on onnxruntime-web's ${info.value.provider} backend`);
    const encDs = (await ok(page, 'create', 'whisper', { audio: 'encoder' })).id;
    const r = await addClip(page, encDs, 'public-demo.mp4');
    if (!r.ok) throw new Error(JSON.stringify(r.failure));
    expect(r.value.frames).toBe(188);
    expect(r.value.audio.tokenShape).toEqual([50, 16]);
    expect(r.value.audio.features).toEqual({ kind: 'encoder', encoder: 'tiny-whisper.onnx', layers: 5, dim: 16 });
    await ok(page, 'cacheLatents', encDs, { standIn: true });
    const c = await page.evaluate(({ id }) => (window as Any).inspect.clipLatents(id, [0, 50]), { id: r.value.id });
    expect(c.audioShape).toEqual([50, 16]);
    expect(c.audio[1].length).toBe(50 * 16);
    // layers stack per step: layer l of a step is layer 0 plus l + j / 16 (the tiny encoder's biases)
    const t = c.audio[1];
    for (let l = 1; l < 5; l++) for (const j of [0, 7, 15]) expect(t[l * 16 + j] - t[j]).toBeCloseTo(l * (l + 1) / 2 + (l * j) / 16, 3);
  });

  it('refuses a file that is not a Whisper encoder, and a clip for an encoder dataset without the encoder', async () => {
    const r = await page.evaluate(async () => {
      try {
        return await (window as Any).lab.datasets.setAudioEncoder(new Uint8Array([8, 1, 2, 3, 4, 5]).buffer, 'junk.onnx');
      } catch (failure) {
        return failure;
      }
    });
    expect(r).toMatchObject({ kind: 'engine-failure', code: 'bad-encoder' });
    expect(r.action).toMatch(/Whisper encoder/);
    const encDs = (await ok(page, 'list')).find((d: Any) => d.name === 'whisper').id;
    const add = await addClip(page, encDs, 'public-demo.mp4');
    expect(add.ok).toBe(false);
    expect(add.failure).toMatchObject({ code: 'bad-clip' });
    expect(add.failure.message).toMatch(/tiny-whisper\.onnx, which is not loaded/);
  });

  it('deletes a whole dataset', async () => {
    await ok(page, 'remove', datasetId);
    expect(await counts(page, demo.id)).toMatchObject({ frames: 0, latents: 0, audio: 0, clips: 0 });
    expect((await ok(page, 'list')).map((d: Any) => d.name)).toEqual(['whisper']);
  });
});
