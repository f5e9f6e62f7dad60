// The audio a lip-sync run follows: 16 kHz mono samples -> per-output-frame tokens, computed exactly as
// the dataset computes them at ingest (src/data/ingest.ts audioFeatures, src/data/audio-tokens.ts), so a
// UNet trained on a dataset hears the same features here.
// No DOM: runs in the worker and in Node.
import { encoderTokens, LATENTSYNC_WINDOW, melTokens, samplesForFrames, type TokenWindow } from '../data/audio-tokens.ts';
import { AUDIO_RATE } from '../data/decode-audio.ts';
import { DEFAULT_MASK } from '../data/mask.ts';
import { audioFeatures } from '../data/ingest.ts';
import type { WhisperEncoder } from '../data/whisper-onnx.ts';
import { audioShapeOf, type AudioFeatureConfig, type DatasetConfig } from '../store/dataset-store.ts';
import { SYNC_FPS, type SyncAudioFeatures } from './api.ts';
import { framesForAudio } from './frame-order.ts';

/** The dataset's default features: Whisper's 80-bin log-mel. */
export const DEFAULT_SYNC_AUDIO: AudioFeatureConfig = { kind: 'logmel', nMels: 80 };

export interface SyncAudioOptions {
  features?: AudioFeatureConfig;
  window?: TokenWindow;
  /** Needed when the features come from an encoder. */
  encoder?: WhisperEncoder | null;
}

/** What an encoder-token model heard, in words: "5 layers of width 384". */
export const heardTokens = (f: { layers: number; dim: number }): string => `${f.layers} layer${f.layers === 1 ? '' : 's'} of width ${f.dim}`;

/** Why `encoder` cannot give the tokens a model heard from `features.encoder`, or null when its layers and width match. */
export function encoderMismatch(features: Extract<AudioFeatureConfig, { kind: 'encoder' }>, encoder: Pick<WhisperEncoder, 'name' | 'layers' | 'dim'>): string | null {
  if (encoder.layers === features.layers && encoder.dim === features.dim) return null;
  return `the models hear ${heardTokens(features)} from ${features.encoder}; the encoder ${encoder.name} gives ${heardTokens(encoder)}`;
}

/**
 * Tokens for every output frame of `samples` (16 kHz mono). The output has the audio's duration at 25 fps
 * (to the nearest frame); the samples are cut or padded with silence to exactly that many frames first, as
 * the dataset cuts a clip's audio to its frames.
 */
export async function syncAudio(samples: Float32Array, opts: SyncAudioOptions = {}): Promise<SyncAudioFeatures> {
  const frames = framesForAudio(samples.length, AUDIO_RATE);
  if (frames < 1) {
    throw new Error(`the audio is ${((samples.length / AUDIO_RATE) * 1000).toFixed(0)} ms long: lip sync needs at least one frame (40 ms) of speech. Give an audio track or file with sound.`);
  }
  const features = opts.features ?? DEFAULT_SYNC_AUDIO;
  const window = opts.window ?? LATENTSYNC_WINDOW;
  const padded = new Float32Array(samplesForFrames(frames, SYNC_FPS, AUDIO_RATE));
  padded.set(samples.subarray(0, padded.length));
  // audioFeatures reads only the audio section of a dataset's config; the rest is the dataset's defaults
  const config: DatasetConfig = { resolution: 0, mask: DEFAULT_MASK, audio: features, window, fps: SYNC_FPS };
  const { features: data, featureShape } = await audioFeatures(padded, config, opts.encoder ?? null);
  const tokenShape = audioShapeOf(config);
  if (features.kind === 'encoder') {
    const [steps, layers, dim] = featureShape as [number, number, number];
    const states = { data, steps, layers, dim };
    return { frames, tokenShape, tokens: (k) => encoderTokens(states, k, SYNC_FPS, window) };
  }
  const [nMels, nFrames] = featureShape as [number, number];
  return { frames, tokenShape, tokens: (k) => melTokens(data, nMels, nFrames, k, SYNC_FPS, window) };
}
