// The media side of lip sync in headless chromium: the encoder sink writes a synthetic clip that
// mediabunny reads back with the right frames (count, order, duration) and audio (codec, duration, cut
// at the last frame); a cancelled writer hands over nothing; the streaming frame source gives the same
// frames read backwards (ping-pong) as forwards, restarting the decoder about once per 16 frames.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSyncHarness, type SyncHarness } from './sync-setup.ts';

let h: SyncHarness;
let page: Page;

beforeAll(async () => {
  h = await openSyncHarness();
  page = h.page;
});

afterAll(async () => {
  await h?.close();
});

interface Written {
  choice: { container: string; videoCodec: string; audioCodec: string; sampleRate: number; numberOfChannels: number };
  mimeType: string;
  videoCodecString: string | null;
  frames: number;
  durationSeconds: number;
  bytes: number;
  ms: number;
  back: {
    mimeType: string;
    videoCodec: string;
    width: number;
    height: number;
    videoPackets: number;
    videoDuration: number;
    firstVideoPts: number;
    audioCodec: string;
    audioRate: number;
    audioChannels: number;
    audioDuration: number;
    audioSamples: number;
    luma: number[];
  };
}

/** Writes `frames` frames of flat grey (frame i at level 20 + 8i) and `audioSeconds` of a 440 Hz tone. */
function writeClip(frames: number, audioSeconds: number, audioRate = 48000, choice?: Record<string, unknown>): Promise<Written> {
  return page.evaluate(
    async ({ frames, audioSeconds, audioRate, choice }) => {
      const { VideoFileWriter, readBack } = (window as any).media;
      const width = 64, height = 48, fps = 25;
      const n = Math.round(audioSeconds * audioRate);
      const left = new Float32Array(n), right = new Float32Array(n);
      for (let i = 0; i < n; i++) left[i] = right[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / audioRate);
      const t0 = performance.now();
      const writer = await VideoFileWriter.create({ width, height, fps, audio: { sampleRate: audioRate, planes: [left, right] }, ...(choice ? { choice } : {}) });
      for (let i = 0; i < frames; i++) {
        const rgba = new Uint8Array(width * height * 4).fill(20 + 8 * i);
        for (let p = 3; p < rgba.length; p += 4) rgba[p] = 255;
        await writer.write(i, rgba);
      }
      const file = await writer.finish();
      const ms = performance.now() - t0;
      const back = await readBack(file.blob, { meanLuma: true });
      return { choice: file.choice, mimeType: file.mimeType, videoCodecString: file.videoCodecString, frames: file.frames, durationSeconds: file.durationSeconds, bytes: file.blob.size, ms, back };
    },
    { frames, audioSeconds, audioRate, choice },
  ) as Promise<Written>;
}

describe('encoder sink', () => {
  it('writes frames and audio that read back with the right count, order and durations', async () => {
    const w = await writeClip(25, 1.0);
    console.log(
      `[sync-encode] chose ${w.choice.container} ${w.choice.videoCodec} (${w.videoCodecString}) + ${w.choice.audioCodec} ${w.choice.sampleRate} Hz x${w.choice.numberOfChannels}; ` +
        `${w.mimeType}; ${w.bytes} bytes; 25 frames 64x48 in ${w.ms.toFixed(0)} ms`,
    );
    // MP4 only where both H.264 and AAC encode; else WebM with VP9 or AV1 and Opus
    const encodes = await page.evaluate(async () => ({
      avc: (await VideoEncoder.isConfigSupported({ codec: 'avc1.42001f', width: 64, height: 48, bitrate: 1e6, framerate: 25 })).supported,
      aac: (await AudioEncoder.isConfigSupported({ codec: 'mp4a.40.2', sampleRate: 48000, numberOfChannels: 2, bitrate: 128000 })).supported,
    }));
    console.log(`[sync-encode] this browser encodes H.264: ${encodes.avc}, AAC: ${encodes.aac}`);
    if (encodes.avc && encodes.aac) expect([w.choice.container, w.choice.videoCodec, w.choice.audioCodec]).toEqual(['mp4', 'avc', 'aac']);
    else expect(w.choice.container === 'webm' && ['vp9', 'av1'].includes(w.choice.videoCodec) && w.choice.audioCodec === 'opus').toBe(true);
    const b = w.back;
    expect(b.videoCodec).toBe(w.choice.videoCodec);
    expect(b.audioCodec).toBe(w.choice.audioCodec);
    expect([b.width, b.height]).toEqual([64, 48]);
    expect(b.videoPackets).toBe(25);
    expect(b.firstVideoPts).toBe(0);
    expect(b.videoDuration).toBeCloseTo(1.0, 2);
    expect(b.audioChannels).toBe(2);
    // decoded audio: 1 s to within a few ms (encoders pad to whole frames: Opus 20 ms, AAC 1024 samples)
    expect(Math.abs(b.audioSamples / b.audioRate - 1.0)).toBeLessThan(0.025);
    expect(Math.abs(b.audioDuration - 1.0)).toBeLessThan(0.025);
    // frames come back in the order written: grey levels 20, 28, 36, ... (lossy, so within a few levels)
    expect(b.luma).toHaveLength(25);
    b.luma.forEach((y, i) => expect(Math.abs(y - (20 + 8 * i))).toBeLessThan(4));
  });

  it('cuts the audio where the last frame ends, and resamples a rate the encoder does not take', async () => {
    // 1.5 s of 44.1 kHz audio with 10 frames (0.4 s) of video
    const w = await writeClip(10, 1.5, 44100);
    expect(w.back.videoPackets).toBe(10);
    expect(w.durationSeconds).toBeCloseTo(0.4, 6);
    expect(Math.abs(w.back.audioSamples / w.back.audioRate - 0.4)).toBeLessThan(0.025);
    if (w.choice.audioCodec === 'opus') expect(w.back.audioRate).toBe(48000);
  });

  it('muxes MP4 with H.264 too (the container a browser with an AAC encoder gets; Opus audio where it has none)', async () => {
    const aac = await page.evaluate(async () => (await AudioEncoder.isConfigSupported({ codec: 'mp4a.40.2', sampleRate: 48000, numberOfChannels: 2, bitrate: 128000 })).supported);
    const audioCodec = aac ? 'aac' : 'opus';
    const w = await writeClip(25, 1.0, 48000, { container: 'mp4', videoCodec: 'avc', audioCodec, sampleRate: 48000, numberOfChannels: 2, extension: '.mp4' });
    expect(w.mimeType).toMatch(/^video\/mp4/);
    expect([w.back.videoCodec, w.back.audioCodec]).toEqual(['avc', audioCodec]);
    expect(w.back.videoPackets).toBe(25);
    expect(w.back.videoDuration).toBeCloseTo(1.0, 2);
    expect(Math.abs(w.back.audioSamples / w.back.audioRate - 1.0)).toBeLessThan(0.025);
    w.back.luma.forEach((y, i) => expect(Math.abs(y - (20 + 8 * i))).toBeLessThan(4));
  });

  it('hands over nothing when cancelled, and refuses frames out of order', async () => {
    const r = await page.evaluate(async () => {
      const { VideoFileWriter } = (window as any).media;
      const frame = new Uint8Array(32 * 32 * 4).fill(128);
      const audio = { sampleRate: 48000, planes: [new Float32Array(48000)] };
      const outOfOrder = await VideoFileWriter.create({ width: 32, height: 32, fps: 25, audio });
      const orderError = await outOfOrder.write(1, frame).then(() => null, (e: Error) => e.message);
      await outOfOrder.cancel();
      const w = await VideoFileWriter.create({ width: 32, height: 32, fps: 25, audio });
      for (let i = 0; i < 5; i++) await w.write(i, frame);
      await w.cancel();
      const finishError = await w.finish().then(() => null, (e: Error) => e.message);
      const writeError = await w.write(5, frame).then(() => null, (e: Error) => e.message);
      return { orderError, finishError, writeError };
    });
    expect(r.orderError).toMatch(/frame 0 was expected/);
    expect(r.finishError).toMatch(/cancelled/);
    expect(r.writeError).toMatch(/cancelled/);
  });
});

describe('streaming frame source', () => {
  it('reads the demo clip at 25 fps forwards and backwards with the same frames, restarting once per window', async () => {
    const forward = Array.from({ length: 40 }, (_, k) => k);
    const pingPong = [...forward, ...forward.slice().reverse()];
    const r = (await page.evaluate(({ url, order }) => (window as any).media.readFrames(url, order), { url: `${h.url}demo/demo.mp4`, order: pingPong })) as {
      width: number;
      height: number;
      frameCount: number;
      seeks: number;
      hashes: number[];
      ms: number;
    };
    console.log(`[sync-encode] ClipFrameSource: 80 reads (40 forward, 40 back) in ${r.ms.toFixed(0)} ms, ${r.seeks} decoder starts`);
    expect([r.width, r.height, r.frameCount]).toEqual([256, 256, 188]);
    const fwd = r.hashes.slice(0, 40), back = r.hashes.slice(40).reverse();
    expect(back).toEqual(fwd);
    // the talking face changes: not every frame is the same picture
    expect(new Set(fwd).size).toBeGreaterThan(20);
    // one start for the forward pass; backwards, the last 16 frames are still held, then one start per 16
    expect(r.seeks).toBeLessThanOrEqual(3);
  });
});
