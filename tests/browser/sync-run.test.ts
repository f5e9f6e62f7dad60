// Lip sync end to end in headless chromium through the engine worker, with the demo models (tiny, trained
// on the demo clip): a slice of the demo clip synced to its own audio, and a short silent clip synced to a
// longer WAV (the video loops); the files read back with the frame count and duration of the audio. Also:
// no models, no audio and a cancel each give the engine's failure and no file, and cancel frees the GPU.
// And the app's Lip sync panel, driven from the keyboard with weight files picked: a run ends in a
// download link to the whole file; a missing file is a readable error. Last, a sync is refused while
// training runs.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tools/serve.ts';
import { ensureRandomModels, openSyncHarness, type SyncHarness } from './sync-setup.ts';

const DEMO_UNET = resolve(ROOT, 'public/demo/demo-unet.safetensors');
const haveDemo = existsSync(DEMO_UNET) && existsSync(resolve(ROOT, 'public/demo/demo-models.json'));
if (!haveDemo) console.warn(`[sync-run] skipped: ${DEMO_UNET} is not there yet (tools/demo/train-demo-models.ts writes it)`);

let h: SyncHarness;
let page: Page;

interface Outcome {
  ok: boolean;
  failure?: { code: string; message: string; action: string };
  result?: { mimeType: string; fileName: string; container: string; videoCodec: string; audioCodec: string; frames: number; durationSeconds: number; audioFrom: string; peakBytes: number; ms: number; bytes: number };
  back?: { videoPackets: number; width: number; height: number; audioSamples: number; audioRate: number; videoDuration: number };
  stages: string[];
  lastSync: { frame: number; frames: number; chunks: number; etaSeconds: number | null } | null;
  wallMs: number;
}

/** engine.sync.run on inputs served with the harness (paths under its base URL). */
function sync(video: string, audio: string | null, opts: Record<string, unknown>, cancelAtFrame?: number): Promise<Outcome> {
  return page.evaluate(
    async ({ base, video, audio, opts, cancelAtFrame }) => {
      const { lab, Comlink, media } = window as any;
      const get = async (p: string) => (await fetch(base + p)).blob();
      const stages: string[] = [];
      let lastSync: Outcome['lastSync'] = null;
      const t0 = performance.now();
      const onProgress = Comlink.proxy((p: any) => {
        if (stages[stages.length - 1] !== p.stage) stages.push(p.stage);
        if (p.stage === 'sync') {
          lastSync = { frame: p.frame, frames: p.frames, chunks: p.chunks, etaSeconds: p.etaSeconds };
          if (cancelAtFrame !== undefined && p.frame >= cancelAtFrame) void lab.sync.cancel();
        }
      });
      const names = { videoName: video.split('/').pop(), ...(audio ? { audioName: audio.split('/').pop() } : {}) };
      try {
        const r = await lab.sync.run(await get(video), audio ? await get(audio) : null, { ...names, ...opts }, onProgress);
        const back = await media.readBack(r.blob);
        const { blob, ...rest } = r;
        return { ok: true, result: { ...rest, bytes: blob.size }, back, stages, lastSync, wallMs: performance.now() - t0 };
      } catch (failure) {
        return { ok: false, failure, stages, lastSync, wallMs: performance.now() - t0 };
      }
    },
    { base: h.url, video, audio, opts, cancelAtFrame },
  ) as Promise<Outcome>;
}

const live = () => page.evaluate(async () => (await (window as any).lab.ledger()).live) as Promise<number>;

beforeAll(async () => {
  h = await openSyncHarness();
  page = h.page;
  await page.evaluate(() => (window as any).lab.init());
});

afterAll(async () => {
  await h?.close();
});

describe.skipIf(!haveDemo)('lip sync through the worker', () => {
  it('refuses to run before models are loaded', async () => {
    const r = await sync('demo/demo.mp4', null, { steps: 1, maxSeconds: 0.2 });
    expect(r.ok).toBe(false);
    expect(r.failure!.code).toBe('sync-state');
    expect(r.failure!.action).toMatch(/demo models/);
  });

  it('refuses models that hear Whisper-encoder tokens while no encoder is loaded, saying what to load, and keeps nothing', async () => {
    const before = await live();
    const r = await page.evaluate(async (base) => {
      const bytes = async (f: string) => (await fetch(`${base}demo/${f}`)).arrayBuffer();
      const files = { unet: await bytes('demo-unet.safetensors'), vae: await bytes('demo-vae.safetensors'), resolution: 16, audio: { kind: 'encoder', encoder: 'whisper-tiny.onnx', layers: 5, dim: 384 } };
      return (window as any).lab.sync.loadModels(files).then(() => null, (f: unknown) => f);
    }, h.url);
    expect(r?.code).toBe('sync-state');
    expect(r?.message).toMatch(/whisper-tiny\.onnx \(5 layers of width 384\), and no audio encoder is loaded/);
    expect(r?.action).toMatch(/Load whisper-tiny\.onnx as the datasets' audio encoder/);
    expect(await live()).toBe(before);
  });

  it('loads the demo models', async () => {
    const info = await page.evaluate(
      (base) => (window as any).lab.sync.loadModels({ demo: true, manifestUrl: `${base}demo/demo-models.json` }).catch((f: unknown) => ({ failure: f })),
      h.url,
    );
    if (info.failure) throw new Error(JSON.stringify(info.failure));
    console.log(`[sync-run] models: ${JSON.stringify(info)}`);
    expect(info.source).toBe('demo');
    expect(info.unet.parameters).toBeGreaterThan(0);
    expect(info.vae.parameters).toBeGreaterThan(0);
    expect(info.resolution).toBeGreaterThan(0);
    expect(info.weightBytes).toBeGreaterThan(0);
  });

  it('syncs 16 frames of the demo clip to its own audio: the file has 16 frames and 0.64 s of audio', async () => {
    const r = await sync('demo/demo.mp4', null, { steps: 2, maxSeconds: 0.64, seed: 7 });
    if (!r.ok) throw new Error(JSON.stringify(r.failure));
    const res = r.result!, back = r.back!;
    console.log(
      `[sync-run] demo slice: ${res.frames} frames in ${(res.ms / 1000).toFixed(1)} s of lipSync (${(res.ms / res.frames).toFixed(0)} ms/frame), ` +
        `${(r.wallMs / 1000).toFixed(1)} s wall; ${res.container} ${res.videoCodec}+${res.audioCodec}, ${res.bytes} bytes; peak ${res.peakBytes} B`,
    );
    expect(r.stages).toEqual(['open', 'sync', 'finish']);
    expect(r.lastSync).toMatchObject({ frame: 16, frames: 16, chunks: 1 });
    expect(res).toMatchObject({ frames: 16, audioFrom: 'video', fileName: `demo-synced.${res.container}` });
    expect(res.durationSeconds).toBeCloseTo(0.64, 6);
    expect(back.videoPackets).toBe(16);
    expect([back.width, back.height]).toEqual([256, 256]);
    expect(back.videoDuration).toBeCloseTo(0.64, 2);
    expect(Math.abs(back.audioSamples / back.audioRate - 0.64)).toBeLessThan(0.025);
    expect(res.peakBytes).toBeGreaterThan(0);
  });

  it('syncs a 10-frame clip to 0.64 s of WAV audio: the video loops, the output follows the audio', async () => {
    const r = await sync('inputs/silent-0.4s.mp4', 'inputs/tone-0.64s.wav', { steps: 1, guidance: 1 });
    if (!r.ok) throw new Error(JSON.stringify(r.failure));
    console.log(`[sync-run] silent clip + WAV: ${r.result!.frames} frames in ${(r.result!.ms / 1000).toFixed(1)} s of lipSync`);
    expect(r.result).toMatchObject({ frames: 16, audioFrom: 'file', fileName: `silent-0.4s-synced.${r.result!.container}` });
    expect(r.back!.videoPackets).toBe(16);
    expect([r.back!.width, r.back!.height]).toEqual([64, 64]);
    expect(Math.abs(r.back!.audioSamples / r.back!.audioRate - 0.64)).toBeLessThan(0.025);
  });

  it('says what to do when the video has no audio and none is given', async () => {
    const r = await sync('inputs/silent-0.4s.mp4', null, { steps: 1 });
    expect(r.ok).toBe(false);
    expect(r.failure!.code).toBe('bad-clip');
    expect(r.failure!.message).toMatch(/no audio track/);
    expect(r.failure!.action).toMatch(/audio file/);
  });

  it('cancels: no file, the failure says so, GPU memory back to the weights, and the next run works', async () => {
    const before = await live();
    const r = await sync('demo/demo.mp4', null, { steps: 1 }, 0);
    expect(r.ok).toBe(false);
    expect(r.failure!.code).toBe('sync-cancelled');
    expect(r.lastSync!.frames).toBe(188);
    expect(r.lastSync!.frame).toBeLessThan(188);
    expect(await live()).toBe(before);
    const again = await sync('demo/demo.mp4', null, { steps: 1, guidance: 1, maxSeconds: 0.2 });
    expect(again.ok).toBe(true);
    expect(again.result!.frames).toBe(5);
    expect(again.back!.videoPackets).toBe(5);
  });
});

describe('the Lip sync panel in the app', () => {
  let app: Page;
  const press = async (testId: string) => {
    await app.getByTestId(testId).focus();
    await app.keyboard.press('Enter');
  };
  const text = async (testId: string) => ((await app.getByTestId(testId).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();

  beforeAll(async () => {
    app = await h.browser.context.newPage();
    app.setDefaultTimeout(150_000);
    await app.goto(h.url);
    await app.getByText('Engine ready').waitFor();
  });

  it('says what is missing: models, then a weights file', async () => {
    await app.getByRole('heading', { name: 'Lip sync' }).waitFor();
    expect(await app.getByTestId('sync-run').getAttribute('aria-disabled')).toBe('true');
    expect(await text('sync')).toMatch(/Load the models first/);
    await press('sync-load-files');
    await app.getByTestId('sync-error').waitFor();
    expect(await text('sync-error')).toMatch(/No UNet file is picked.*Pick both weights files/);
  });

  it('loads weight files, takes the demo clip, runs from the keyboard and offers the whole file for download', async () => {
    const files = ensureRandomModels();
    await app.getByTestId('sync-unet-file').setInputFiles(files.unet);
    await app.getByTestId('sync-vae-file').setInputFiles(files.vae);
    await press('sync-load-files');
    await app.getByText(/Loaded: UNet unet-tiny/).waitFor();
    await press('sync-demo-clip');
    await app.getByText('Video: demo.mp4 (256x256, 7.52 s, with AAC audio)').waitFor();
    for (const [id, v] of [['sync-steps', '1'], ['sync-guidance', '1'], ['sync-maxSeconds', '0.2'], ['sync-box-x', '100'], ['sync-box-y', '0'], ['sync-box-size', '256']] as const) {
      await app.getByTestId(id).fill(v);
      await app.keyboard.press('Tab');
    }
    // a face box that leaves the frame is refused with what to do, before any GPU work
    await press('sync-run');
    await app.getByTestId('sync-error').waitFor();
    expect(await text('sync-error')).toMatch(/not a square inside the 256x256 video.*at most 256 px/);
    await app.getByTestId('sync-box-x').fill('0');
    await app.keyboard.press('Tab');
    expect(await app.getByTestId('sync-run').getAttribute('aria-disabled')).toBe('false');
    await press('sync-run');
    await app.getByTestId('sync-progress').waitFor();
    const link = app.getByTestId('sync-download');
    await link.waitFor();
    const name = await link.getAttribute('download');
    expect(name).toMatch(/^demo-synced\.(webm|mp4)$/);
    expect(await text('sync-result')).toMatch(/0\.20 s, 5 frames/);
    // the link is the finished file: it reads back with its 5 frames
    const back = (await app.evaluate(async (href) => {
      const blob = await (await fetch(href)).blob();
      return { size: blob.size, type: blob.type };
    }, (await link.getAttribute('href'))!)) as { size: number; type: string };
    expect(back.size).toBeGreaterThan(1000);
    expect(back.type).toMatch(/^video\/(webm|mp4)/);
    await app.getByTestId('sync').screenshot({ path: resolve(ROOT, 'test-results/browser/sync-panel.png') });
  });

  it('fits a narrow window without sideways scrolling', async () => {
    await app.setViewportSize({ width: 390, height: 844 });
    const overflow = await app.getByTestId('sync').evaluate((el) => el.scrollWidth - el.clientWidth);
    expect(overflow).toBe(0);
    expect(await app.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0);
  });
});

// Last: the training run it starts keeps the harness worker busy until the browser closes.
describe.skipIf(!haveDemo)('lip sync beside training', () => {
  it('is refused while a training run uses the GPU, saying to pause or stop it', async () => {
    const r = await page.evaluate(async (base) => {
      const lab = (window as any).lab;
      const status = await lab.training.start({ steps: 1000, settings: { preset: 'unet-tiny', resolution: 16, frames: 1 } });
      const video = await (await fetch(`${base}demo/demo.mp4`)).blob();
      const outcome = await lab.sync.run(video, null, { steps: 1, maxSeconds: 0.2 }).then(
        () => null,
        (f: unknown) => f,
      );
      const t = performance.now();
      void lab.training.stop(); // it stops after the step in flight; the browser closes after this test
      return { state: status.state, outcome, ms: performance.now() - t };
    }, h.url);
    expect(r.state).toBe('running');
    expect(r.outcome).toMatchObject({ code: 'sync-state', message: 'A training run is using the GPU.' });
    expect(r.outcome.action).toMatch(/Pause or stop the training run/);
  });
});
