// The demo clip (public/demo/demo.mp4) as the app's dataset ingest would store it, in Node: 25 fps face
// crops at the training resolution (centred largest square, the ingest's resize filter), 16 kHz mono
// audio (the app's resampler) and its log-mel features (the dataset's default audio config).
// ffmpeg decodes instead of WebCodecs; everything after the decode is the app's own code.
import { execFileSync } from 'node:child_process';
import { LATENTSYNC_WINDOW, melTokens, samplesForFrames } from '../../src/data/audio-tokens.ts';
import { centeredBox, clampBox, cropResizeRgba, rgbToChw, type FaceBox } from '../../src/data/crop.ts';
import { outputFrameCount } from '../../src/data/frame-times.ts';
import { audioFeatures } from '../../src/data/ingest.ts';
import { DEFAULT_MASK } from '../../src/data/mask.ts';
import { AUDIO_RATE } from '../../src/data/decode-audio.ts';
import { resample } from '../../src/data/resample.ts';
import type { DatasetConfig } from '../../src/store/dataset-store.ts';

export const DEMO_CLIP = 'public/demo/demo.mp4';
export const DEMO_MOUTH = 'public/demo/demo-mouth.json';

export interface DemoClip {
  config: DatasetConfig;
  box: FaceBox;
  frames: number;
  /** frames x [size, size, 3] RGB bytes. */
  rgb: Uint8Array;
  /** 16 kHz mono, samplesForFrames(frames) long. */
  pcm: Float32Array;
  /** log-mel [nMels, nFrames] row-major. */
  features: Float32Array;
  featureShape: number[];
  /** Frame f as CHW floats in [-1, 1], as the VAE takes it. */
  chw(f: number): Float32Array;
  /** Audio tokens of frame f, [20, 80], as the dataset's audio reader gives them. */
  tokens(f: number): Float32Array;
}

/** The dataset config the app would use for this clip, at `resolution` px. */
export function demoDatasetConfig(resolution: number): DatasetConfig {
  return { resolution, mask: DEFAULT_MASK, audio: { kind: 'logmel', nMels: 80 }, window: LATENTSYNC_WINDOW, fps: 25 };
}

function probe(file: string): { width: number; height: number; durationUs: number; sampleRate: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,width,height,sample_rate:format=duration', '-of', 'json', file], { encoding: 'utf8' });
  const j = JSON.parse(out) as { streams: { codec_type: string; width?: number; height?: number; sample_rate?: string }[]; format: { duration: string } };
  const v = j.streams.find((s) => s.codec_type === 'video');
  const a = j.streams.find((s) => s.codec_type === 'audio');
  if (!v || !a) throw new Error(`${file} needs a video and an audio track`);
  return { width: v.width!, height: v.height!, durationUs: Math.round(Number(j.format.duration) * 1e6), sampleRate: Number(a.sample_rate) };
}

export function loadDemoClip(resolution: number, file = DEMO_CLIP): DemoClip {
  const config = demoDatasetConfig(resolution);
  const p = probe(file);
  const box = clampBox(centeredBox(p.width, p.height), p.width, p.height);
  const frames = outputFrameCount(p.durationUs, config.fps);
  // the clip is constant 25 fps: ffmpeg's frames are the retimer's frames one to one (checked by count)
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v:0', '-f', 'rawvideo', '-pix_fmt', 'rgba', '-'], { maxBuffer: 1 << 30 });
  const frameBytes = p.width * p.height * 4;
  if (raw.length !== frames * frameBytes) throw new Error(`${file}: ffmpeg gave ${raw.length / frameBytes} frames, the 25 fps grid has ${frames}`);
  const size = resolution;
  const rgb = new Uint8Array(frames * size * size * 3);
  for (let f = 0; f < frames; f++) {
    const rgba = new Uint8Array(raw.buffer, raw.byteOffset + f * frameBytes, frameBytes);
    rgb.set(cropResizeRgba(rgba, p.width, p.height, box, size), f * size * size * 3);
  }
  // audio at its own rate, mono, then the app's resampler to 16 kHz, cut to the video's span
  const pcmRaw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:a:0', '-ac', '1', '-f', 'f32le', '-'], { maxBuffer: 1 << 30 });
  const native = new Float32Array(pcmRaw.buffer.slice(pcmRaw.byteOffset, pcmRaw.byteOffset + pcmRaw.length));
  const resampled = resample(native, p.sampleRate, AUDIO_RATE);
  const pcm = new Float32Array(samplesForFrames(frames, config.fps));
  pcm.set(resampled.subarray(0, pcm.length));
  return {
    config,
    box,
    frames,
    rgb,
    pcm,
    features: new Float32Array(0),
    featureShape: [],
    chw: (f) => rgbToChw(rgb.subarray(f * size * size * 3, (f + 1) * size * size * 3), size),
    tokens: () => {
      throw new Error('call withFeatures first');
    },
  };
}

/** Adds the dataset's audio features (log-mel) and the per-frame token reader. */
export async function withFeatures(clip: DemoClip): Promise<DemoClip> {
  const { features, featureShape } = await audioFeatures(clip.pcm, clip.config, null);
  const [nMels, nFrames] = featureShape as [number, number];
  return { ...clip, features, featureShape, tokens: (f) => melTokens(features, nMels, nFrames, f, clip.config.fps, clip.config.window) };
}
