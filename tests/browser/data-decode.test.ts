// Clips in, dataset out, in headless chromium through the engine worker: the demo clip and the
// generated test clips (sizes, frame rates, containers, codecs) become dataset clips with the
// expected frame and audio-token counts, and their frames follow the drawn mouth's ground truth at
// the right times; every bad input is refused with a reason and an action, and the rest of the
// dataset is untouched.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIPS_DIR, openHarness, type Harness } from './data-setup.ts';

interface Meta {
  id: string;
  frames: number;
  box: { x: number; y: number; size: number };
  resolution: number;
  audio: { samples: number; tokenShape: [number, number]; coverage: number } | null;
  source: { container: string; videoCodec: string; audioCodec: string | null; width: number; height: number; fps: number; variableFrameRate: boolean; sampleRate: number | null };
  warnings: string[];
}
interface Failure {
  kind: string;
  code: string;
  message: string;
  action: string;
  detail?: string;
}
type AddResult = { ok: true; meta: Meta } | { ok: false; failure: Failure };

const ROOT = resolve(__dirname, '../..');
const mouthJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** Adds clips/<file> to a dataset through the worker. */
function addClip(page: Page, datasetId: string, file: string): Promise<AddResult> {
  return page.evaluate(
    async ({ datasetId, file }) => {
      const lab = (window as any).lab;
      const blob = await (await fetch(`../../clips/${file}`)).blob();
      try {
        return { ok: true, meta: await lab.datasets.addClip(datasetId, blob, { name: file }) };
      } catch (failure) {
        return { ok: false, failure };
      }
    },
    { datasetId, file },
  ) as Promise<AddResult>;
}

const counts = (page: Page, clipId?: string) => page.evaluate((id) => (window as any).inspect.recordCounts(id), clipId) as Promise<Record<string, number>>;

function pearson(a: number[], b: number[]): number {
  const n = a.length, ma = a.reduce((s, x) => s + x, 0) / n, mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** The ground-truth opening shown at output frame k: the source frame whose interval covers k / 25 s. */
function truthAt25(truth: { fps: number; mouth_open: number[]; frame_times_s?: number[] }, frames: number): number[] {
  const times = truth.frame_times_s ?? truth.mouth_open.map((_, i) => i / truth.fps);
  return Array.from({ length: frames }, (_, k) => {
    let i = 0;
    while (i + 1 < times.length && times[i + 1]! <= k / 25 + 1e-6) i++;
    return truth.mouth_open[i]!;
  });
}

// The generated clips: frames at 25 fps follow from each file's timing (the VFR clip's last frame
// lasts 1/30 s in its container, so it ends at 7.5 s).
const GOOD = [
  { file: 'public-demo.mp4', truth: join(ROOT, 'public/demo/demo-mouth.json'), frames: 188, container: 'mp4', codec: 'avc', audio: 'aac', size: [256, 256], fps: 25, vfr: false },
  { file: 'landscape-320x240.mp4', truth: 'landscape-320x240.mouth.json', frames: 188, container: 'mp4', codec: 'avc', audio: 'aac', size: [320, 240], fps: 25, vfr: false },
  { file: 'portrait-240x320.mp4', truth: 'portrait-240x320.mouth.json', frames: 188, container: 'mp4', codec: 'avc', audio: 'aac', size: [240, 320], fps: 25, vfr: false },
  { file: 'fps30.mp4', truth: 'fps30.mouth.json', frames: 189, container: 'mp4', codec: 'avc', audio: 'aac', size: [256, 256], fps: 30, vfr: false },
  { file: 'vfr.mp4', truth: 'vfr.mouth.json', frames: 188, container: 'mp4', codec: 'avc', audio: 'aac', size: [256, 256], fps: 30, vfr: true },
  { file: 'vp9-opus.webm', truth: 'vp9-opus.mouth.json', frames: 188, container: 'webm', codec: 'vp9', audio: 'opus', size: [256, 256], fps: 25, vfr: false },
  { file: 'h264-aac.mkv', truth: 'h264-aac.mouth.json', frames: 188, container: 'mkv', codec: 'avc', audio: 'aac', size: [256, 256], fps: 25, vfr: false },
] as const;

describe('clips in, dataset out (headless chromium, engine worker)', () => {
  let h: Harness;
  let page: Page;
  let datasetId: string;
  const added: Meta[] = [];

  beforeAll(async () => {
    h = await openHarness();
    page = h.page;
    datasetId = await page.evaluate(async () => (await (window as any).lab.datasets.create('clips')).id);
  });

  afterAll(async () => {
    await h?.close();
  });

  for (const clip of GOOD) {
    it(`${clip.file}: ${clip.frames} frames at 25 fps, 640 samples and [20, 80] log-mel tokens a frame`, async () => {
      const r = await addClip(page, datasetId, clip.file);
      if (!r.ok) throw new Error(`${clip.file} refused: ${r.failure.message}`);
      const m = r.meta;
      added.push(m);
      expect(m.frames).toBe(clip.frames);
      expect(m.resolution).toBe(256);
      expect(m.audio).not.toBeNull();
      expect(m.audio!.samples).toBe(clip.frames * 640);
      expect(m.audio!.tokenShape).toEqual([20, 80]);
      expect(m.audio!.coverage).toBeGreaterThan(0.99);
      expect(m.source).toMatchObject({ container: clip.container, videoCodec: clip.codec, audioCodec: clip.audio, width: clip.size[0], height: clip.size[1], variableFrameRate: clip.vfr });
      expect(m.source.fps).toBeCloseTo(clip.fps, 0);
      expect(m.box.size).toBe(Math.min(...clip.size));
      if (clip.vfr) expect(m.warnings.join(' ')).toMatch(/Variable frame rate/);
      else if (clip.fps !== 25) expect(m.warnings.join(' ')).toMatch(/30\.00 fps: retimed to 25 fps/);
      if (Math.min(...clip.size) < 256) expect(m.warnings.join(' ')).toMatch(/upscaled/);
      const c = await counts(page, m.id);
      expect(c).toMatchObject({ frames: Math.ceil(clip.frames / 16), audio: 1, clips: 1, latents: 0 });

      // the frames show the mouth the ground truth says, at the right times
      const truth = mouthJson(clip.truth.startsWith('/') ? clip.truth : join(CLIPS_DIR, clip.truth));
      const s = 256 / m.box.size;
      const [x, y, w, hh] = truth.mouth_box as number[];
      const box = [(x! - m.box.x) * s, (y! - m.box.y) * s, w! * s, hh! * s];
      const areas = (await page.evaluate(({ id, n, box }) => (window as any).inspect.mouthAreas(id, n, box), { id: m.id, n: m.frames, box })) as number[];
      const want = truthAt25(truth, m.frames);
      const r0 = pearson(areas, want);
      const shifted = Math.max(pearson(areas.slice(1), want.slice(0, -1)), pearson(areas.slice(0, -1), want.slice(1)));
      console.log(`[data] ${clip.file}: ${m.frames} frames, ${m.audio!.samples} samples; mouth vs ground truth r = ${r0.toFixed(4)} (one frame off: ${shifted.toFixed(4)})`);
      expect(r0, `${clip.file}: frames vs ground truth`).toBeGreaterThan(0.97);
      expect(r0, `${clip.file}: one frame off fits worse`).toBeGreaterThan(shifted);

      // and the audio is in sync: each source frame's mouth opening is the speech's loudness over
      // that frame's interval [t_i, t_i + 1/fps), which the stored 16 kHz audio must reproduce
      const times: number[] = truth.frame_times_s ?? truth.mouth_open.map((_: number, i: number) => i / truth.fps);
      const loud = (dt: number) => page.evaluate(({ id, starts, d }) => (window as any).inspect.audioRms(id, starts, d), { id: m.id, starts: times.map((t) => t + dt), d: 1 / truth.fps }) as Promise<number[]>;
      const a0 = pearson(await loud(0), truth.mouth_open);
      const aShift = Math.max(pearson(await loud(1 / truth.fps), truth.mouth_open), pearson(await loud(-1 / truth.fps), truth.mouth_open));
      console.log(`[data] ${clip.file}: audio loudness vs ground truth r = ${a0.toFixed(4)} (a frame early or late: ${aShift.toFixed(4)})`);
      expect(a0, `${clip.file}: audio vs ground truth`).toBeGreaterThan(0.9);
      expect(a0, `${clip.file}: audio one frame off fits worse`).toBeGreaterThan(aShift);
    });
  }

  it('a 4K clip (3840x2160, 44.1 kHz audio) is cropped and downscaled to 256 px', async () => {
    const r = await addClip(page, datasetId, 'uhd-4k.mp4');
    if (!r.ok) throw new Error(`4K refused: ${r.failure.message}`);
    const m = r.meta;
    expect(m.source).toMatchObject({ width: 3840, height: 2160, sampleRate: 44100 });
    added.push(m);
    expect(m.box).toEqual({ x: 840, y: 0, size: 2160 });
    expect(m.frames).toBe(10);
    expect(m.audio!.samples).toBe(6400);
    // colour bars: the stored frame is not blank and keeps the bars' saturated colours
    const rgb = (await page.evaluate(async (id) => Array.from((await (window as any).lab.datasets.frame(id, 5)).rgb as Uint8Array), m.id)) as number[];
    const distinct = new Set<string>();
    for (let p = 0; p < rgb.length; p += 3 * 97) distinct.add(`${rgb[p]! >> 5},${rgb[p + 1]! >> 5},${rgb[p + 2]! >> 5}`);
    expect(distinct.size).toBeGreaterThan(5);
  });

  it('a clip with a rotation in its display matrix is stored upright as displayed', async () => {
    const r = await addClip(page, datasetId, 'rotated-landscape.mp4');
    if (!r.ok) throw new Error(`rotated clip refused: ${r.failure.message}`);
    const m = r.meta;
    added.push(m);
    // coded 320x240, shown 240x320: the display matrix turns it a quarter counter-clockwise
    expect(m.source).toMatchObject({ width: 240, height: 320, rotation: 270 });
    expect(m.frames).toBe(188);
    expect(m.box).toEqual({ x: 0, y: 40, size: 240 });
    // the same pixels as the unrotated landscape clip's centred box, turned the same way
    const landscape = added.find((c) => c.source.width === 320)!;
    const frame = (id: string) => page.evaluate(async ({ id }) => Array.from((await (window as any).lab.datasets.frame(id, 60)).rgb as Uint8Array), { id }) as Promise<number[]>;
    const [rot, flat] = [await frame(m.id), await frame(landscape.id)];
    let maxDiff = 0;
    for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) {
      // 270 degrees clockwise: display (x, y) shows stored-upright (255 - y, x)
      for (let c = 0; c < 3; c++) maxDiff = Math.max(maxDiff, Math.abs(rot[(y * 256 + x) * 3 + c]! - flat[(x * 256 + (255 - y)) * 3 + c]!));
    }
    expect(maxDiff).toBeLessThanOrEqual(1);
  });

  it('a clip without audio is kept for the VAE and refused for the UNet with the reason', async () => {
    const r = await addClip(page, datasetId, 'no-audio.mp4');
    if (!r.ok) throw new Error(`no-audio refused: ${r.failure.message}`);
    expect(r.meta.frames).toBe(188);
    expect(r.meta.audio).toBeNull();
    expect(r.meta.warnings.join(' ')).toMatch(/No audio track: this clip can train the VAE but not the UNet/);
    const ready = (await page.evaluate((id) => (window as any).lab.datasets.readiness(id), datasetId)) as { clipId: string; vae: string | null; unet: string | null }[];
    const row = ready.find((x) => x.clipId === r.meta.id)!;
    expect(row.vae).toBeNull();
    expect(row.unet).toMatch(/no audio: it can train the VAE but not the UNet/);
    added.push(r.meta);
  });

  const BAD = [
    { file: 'not-a-video.mp4', reason: /not a video file/, action: /MP4, MOV, WebM or MKV/ },
    { file: 'empty.mp4', reason: /is empty \(0 bytes\)/, action: /Pick the file again/ },
    { file: 'zero-length.mp4', reason: /zero-length clip/, action: /Export the clip again/ },
    { file: 'truncated.mp4', reason: /cut short/, action: /Download or copy the file again/ },
    { file: 'truncated-no-moov.mp4', reason: /cut short/, action: /Download or copy the file again/ },
  ];
  for (const bad of BAD) {
    it(`refuses ${bad.file} with a reason and what to do; the dataset is untouched`, async () => {
      const before = await counts(page);
      const clipsBefore = (await page.evaluate((id) => (window as any).lab.datasets.clips(id), datasetId)) as Meta[];
      const r = await addClip(page, datasetId, bad.file);
      expect(r.ok).toBe(false);
      const f = (r as { failure: Failure }).failure;
      expect(f.kind).toBe('engine-failure');
      expect(f.code).toBe('bad-clip');
      expect(f.message).toMatch(bad.reason);
      expect(f.action).toMatch(bad.action);
      expect(await counts(page)).toEqual(before);
      expect(((await page.evaluate((id) => (window as any).lab.datasets.clips(id), datasetId)) as Meta[]).map((c) => c.id)).toEqual(clipsBefore.map((c) => c.id));
    });
  }

  it('HEVC: refused with a re-encode hint where this browser lacks the decoder, else added', async () => {
    const supported = await page.evaluate(async () => (await VideoDecoder.isConfigSupported({ codec: 'hev1.1.6.L60.90', codedWidth: 256, codedHeight: 256 })).supported);
    const before = await counts(page);
    const r = await addClip(page, datasetId, 'hevc.mp4');
    if (supported) {
      expect(r.ok).toBe(true);
      expect((r as { meta: Meta }).meta.frames).toBe(188);
      return;
    }
    expect(r.ok).toBe(false);
    const f = (r as { failure: Failure }).failure;
    expect(f.code).toBe('bad-clip');
    expect(f.message).toMatch(/HEVC \(H\.265\).*cannot decode/);
    expect(f.action).toMatch(/Re-encode it to H\.264.*ffmpeg -i INPUT -c:v libx264/);
    expect(await counts(page)).toEqual(before);
  });

  it('the dataset lists every added clip, in order', async () => {
    const clips = (await page.evaluate((id) => (window as any).lab.datasets.clips(id), datasetId)) as Meta[];
    // HEVC joins at the end where this browser decodes it
    expect(clips.map((c) => c.id).slice(0, added.length)).toEqual(added.map((c) => c.id));
    console.log(`[data] frames per clip: ${clips.map((c) => `${c.frames}${c.audio ? `/${c.audio.samples}` : ''}`).join(', ')}`);
  });
});
