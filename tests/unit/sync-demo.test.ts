// Lip sync with the demo checkpoints (public/demo, trained on the demo clip) to NEW audio: the demo's speech
// time-reversed. Its loudness envelope is computed as tools/demo/draw_face.py computes mouth_open (the drawn
// mouth follows it), and the mouth opening measured in the output (the dark area in the mouth box) must follow
// that envelope better than chance: above the 95th percentile of 200 shuffled envelopes.
// Needs ffmpeg (Debian's, as the demo clip's own generator) to read the clip.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openWeightsFile } from '../../src/cli/weights-file.ts';
import { readSyncManifest } from '../../src/cli/verbs/sync-files.ts';
import { AUDIO_RATE } from '../../src/data/decode-audio.ts';
import { resample } from '../../src/data/resample.ts';
import { Rng } from '../../src/diffusion/rng.ts';
import { lipSync, syncAudio, type SyncFrameSource } from '../../src/sync/api.ts';
import { loadSyncModels } from '../../src/sync/models.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { pearson } from '../../tools/demo/demo-check.ts';

const CLIP = 'public/demo/demo.mp4';
const MOUTH = 'public/demo/demo-mouth.json';
const MANIFEST = 'public/demo/demo-models.json';
const FPS = 25;
const SPF = AUDIO_RATE / FPS; // 640 samples a frame

const hasFfmpeg = (() => {
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
interface MouthJson {
  width: number;
  height: number;
  frame_count: number;
  mouth_box: [number, number, number, number];
  mouth_open: number[];
}

/** The clip's frames as RGBA and its audio as 16 kHz mono (the dataset's resampler), through ffmpeg. */
function loadClip(m: MouthJson) {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP, '-map', '0:v:0', '-f', 'rawvideo', '-pix_fmt', 'rgba', '-'], { maxBuffer: 1 << 30 });
  const bytes = m.width * m.height * 4;
  const frames = Array.from({ length: raw.length / bytes }, (_, f) => new Uint8Array(raw.buffer, raw.byteOffset + f * bytes, bytes));
  const rate = Number(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=sample_rate', '-of', 'csv=p=0', CLIP], { encoding: 'utf8' }).trim());
  const pcm = execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP, '-map', '0:a:0', '-ac', '1', '-f', 'f32le', '-'], { maxBuffer: 1 << 30 });
  const native = new Float32Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.length));
  const audio = resample(native, rate, AUDIO_RATE).slice(0, frames.length * SPF);
  return { frames, audio };
}

/** draw_face.py mouth_envelope: per-frame RMS, normalized by the 95th percentile of voiced frames, gated, square root. */
function mouthEnvelope(x: Float32Array, frames: number): number[] {
  const rms = Array.from({ length: frames }, (_, i) => {
    const seg = x.subarray(Math.round(i * SPF), Math.round((i + 1) * SPF));
    let s = 0;
    for (const v of seg) s += v * v;
    return seg.length ? Math.sqrt(s / seg.length) : 0;
  });
  const max = Math.max(...rms);
  const voiced = max > 0 ? rms.filter((r) => r > 0.01 * max) : rms;
  const ref = voiced.length ? percentile(voiced, 95) : 1;
  const gate = 0.04 * ref;
  return rms.map((r) => Math.sqrt(Math.min(1, Math.max(0, (r - gate) / (ref - gate)))));
}

/** numpy.percentile (linear interpolation). */
function percentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = ((s.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

/** Mouth opening as the dark area in the mouth box: how far each pixel's luma falls below the skin's, averaged. */
function darkness(rgba: Uint8Array, width: number, box: MouthJson['mouth_box']): number {
  const [x0, y0, w, h] = box;
  const SKIN_LUMA = 0.299 * 226 + 0.587 * 184 + 0.114 * 150; // draw_face.py's SKIN
  let s = 0;
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      const p = (y * width + x) * 4;
      s += Math.max(0, SKIN_LUMA - (0.299 * rgba[p]! + 0.587 * rgba[p + 1]! + 0.114 * rgba[p + 2]!));
    }
  }
  return s / (w * h);
}

/** The 95th percentile of the correlations of `measured` with 200 seeded shuffles of `envelope`. */
function shuffledBaseline(measured: number[], envelope: number[], seed = 11): number {
  const rng = new Rng(seed);
  const rs = Array.from({ length: 200 }, () => {
    const s = [...envelope];
    for (let i = s.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [s[i], s[j]] = [s[j]!, s[i]!];
    }
    return pearson(measured, s);
  });
  return percentile(rs, 95);
}

describe.skipIf(!hasFfmpeg)('the demo clip, measured (no GPU)', () => {
  it('the envelope port and the darkness measure agree with the clip’s ground truth', () => {
    const m = JSON.parse(readFileSync(MOUTH, 'utf8')) as MouthJson;
    const { frames, audio } = loadClip(m);
    expect(frames.length).toBe(m.frame_count);
    // the envelope from the clip's own (AAC, resampled) audio follows the mouth_open it was drawn with
    expect(pearson(mouthEnvelope(audio, frames.length), m.mouth_open)).toBeGreaterThan(0.95);
    // the dark area in the mouth box follows the drawn opening
    expect(pearson(frames.map((f) => darkness(f, m.width, m.mouth_box)), m.mouth_open)).toBeGreaterThan(0.95);
  });
});

describe.skipIf(!hasFfmpeg)('lip sync with the demo checkpoints follows new audio', { timeout: 3_600_000 }, () => {
  it('reversed speech: output mouth opening vs the envelope, above a shuffled baseline', async () => {
    const m = JSON.parse(readFileSync(MOUTH, 'utf8')) as MouthJson;
    const manifest = readSyncManifest(MANIFEST);
    const { frames, audio } = loadClip(m);
    const reversed = audio.slice().reverse();
    // 32 frames (2 chunks of 16) of reversed speech, starting where it is voiced: minutes on SwiftShader
    const START = 20, N = 32;
    const envelope = mouthEnvelope(reversed, frames.length).slice(START, START + N);
    const features = await syncAudio(reversed.subarray(START * SPF, (START + N) * SPF), { features: manifest.audio?.features, window: manifest.audio?.window });
    expect(features.frames).toBe(N);

    const rt = await testRuntime();
    const models = await loadSyncModels(rt, { unet: await openWeightsFile(manifest.unetFile!), vae: await openWeightsFile(manifest.vaeFile!) }, {
      unetPreset: manifest.unetPreset,
      vaePreset: manifest.vaePreset,
      scalingFactor: manifest.scalingFactor,
    });
    const video: SyncFrameSource = { width: m.width, height: m.height, frameCount: frames.length, read: async (i) => frames[i]! };
    const measured: number[] = [];
    const result = await lipSync(rt, models, video, features, {
      sink: { write: async (_k, rgba) => void measured.push(darkness(rgba, m.width, m.mouth_box)) },
      box: { x: 0, y: 0, size: Math.min(m.width, m.height) },
      resolution: manifest.resolution!,
      mask: manifest.mask,
      steps: 4,
      guidance: 1.5,
      seed: 3,
    });
    const r = pearson(measured, envelope);
    const baseline = shuffledBaseline(measured, envelope);
    // what the frames' own mouths (the reference frames) would give: the leak LatentSync's reference invites
    const own = pearson(measured, m.mouth_open.slice(0, N));
    console.log(
      `demo sync to reversed speech: r = ${r.toFixed(3)} vs shuffled p95 ${baseline.toFixed(3)}; r with the video's own mouth ${own.toFixed(3)}; ` +
        `${N} frames in ${(result.ms / 1000).toFixed(0)} s (${(result.ms / N).toFixed(0)} ms a frame, 4 steps, CFG 1.5), peak ${result.peakBytes} B`,
    );
    expect(measured.length).toBe(N);
    expect(r).toBeGreaterThan(baseline);
    models.unet.dispose();
    models.vae.dispose();
  });
});
