// Per-video-frame audio tokens, arranged as LatentSync's Audio2Feature does.
//
// Whisper's encoder gives 50 steps a second (1500 per 30 s window). Video frame k at `fps` has its
// centre step c = floor(k * 50 / fps); its window is steps c - 2 * left .. c + 2 * (right + 1) - 1
// (10 steps for left = right = 2), clamped to the clip. Each step contributes the hidden state of
// every stacked layer, so a frame gets (10 * layers) tokens of the encoder width: 50 x 384 for
// Whisper tiny (its embedding output and 4 blocks). Order: step-major, then layer.
//
// Without an encoder the tokens are Whisper's log-mel frames (100 a second) over the same span:
// 20 frames of 80 bins, which a learned projection (src/nn/audio-projection.ts) takes to the
// cross-attention width.
// No DOM: runs in the worker and in Node.

export const ENCODER_STEPS_PER_SECOND = 50;
export const MEL_FRAMES_PER_SECOND = 100;
/** Mel frames per encoder step (Whisper's conv stem has stride 2). */
export const MEL_PER_STEP = 2;
/** Samples (16 kHz) per encoder step. */
export const SAMPLES_PER_STEP = 320;

export interface TokenWindow {
  /** Encoder steps before the centre step's pair, in pairs (LatentSync's audio_feat_length[0]). */
  left: number;
  /** Pairs after it (audio_feat_length[1]). */
  right: number;
}

export const LATENTSYNC_WINDOW: TokenWindow = { left: 2, right: 2 };

/** How many encoder steps each frame's window spans: 2 * (left + right + 1). */
export function windowSteps(w: TokenWindow = LATENTSYNC_WINDOW): number {
  return 2 * (w.left + w.right + 1);
}

/** The encoder steps of video frame k (clamped to 0 .. steps - 1). */
export function encoderWindow(k: number, steps: number, fps = 25, w: TokenWindow = LATENTSYNC_WINDOW): Int32Array {
  const centre = Math.floor((k * ENCODER_STEPS_PER_SECOND) / fps);
  const lo = centre - 2 * w.left;
  const idx = new Int32Array(windowSteps(w));
  for (let i = 0; i < idx.length; i++) idx[i] = Math.min(steps - 1, Math.max(0, lo + i));
  return idx;
}

/** The log-mel frames of video frame k: the encoder window's span at 100 frames a second. */
export function melWindow(k: number, melFrames: number, fps = 25, w: TokenWindow = LATENTSYNC_WINDOW): Int32Array {
  const centre = Math.floor((k * ENCODER_STEPS_PER_SECOND) / fps) * MEL_PER_STEP;
  const lo = centre - 2 * MEL_PER_STEP * w.left;
  const idx = new Int32Array(windowSteps(w) * MEL_PER_STEP);
  for (let i = 0; i < idx.length; i++) idx[i] = Math.min(melFrames - 1, Math.max(0, lo + i));
  return idx;
}

/** Encoder hidden states of a clip: row-major [steps, layers, dim]. */
export interface EncoderStates {
  data: Float32Array;
  steps: number;
  layers: number;
  dim: number;
}

/** Tokens of frame k from encoder states: [windowSteps * layers, dim]. */
export function encoderTokens(states: EncoderStates, k: number, fps = 25, w: TokenWindow = LATENTSYNC_WINDOW, out?: Float32Array): Float32Array {
  const { data, steps, layers, dim } = states;
  const idx = encoderWindow(k, steps, fps, w);
  const per = layers * dim;
  const result = out ?? new Float32Array(idx.length * per);
  idx.forEach((s, i) => result.set(data.subarray(s * per, (s + 1) * per), i * per));
  return result;
}

/** Tokens of frame k from a log-mel [nMels, nFrames] (row-major): [windowSteps * 2, nMels]. */
export function melTokens(mel: Float32Array, nMels: number, nFrames: number, k: number, fps = 25, w: TokenWindow = LATENTSYNC_WINDOW, out?: Float32Array): Float32Array {
  const idx = melWindow(k, nFrames, fps, w);
  const result = out ?? new Float32Array(idx.length * nMels);
  idx.forEach((t, i) => {
    for (let m = 0; m < nMels; m++) result[i * nMels + m] = mel[m * nFrames + t]!;
  });
  return result;
}

/** [tokens, dim] per frame for each kind of audio feature. */
export function tokenShape(kind: 'encoder', layers: number, dim: number, w?: TokenWindow): [number, number];
export function tokenShape(kind: 'logmel', nMels: number, w?: TokenWindow): [number, number];
export function tokenShape(kind: 'encoder' | 'logmel', a: number, b?: number | TokenWindow, c?: TokenWindow): [number, number] {
  if (kind === 'encoder') return [windowSteps(c) * a, b as number];
  return [windowSteps(b as TokenWindow | undefined) * MEL_PER_STEP, a];
}

/** 16 kHz samples that `frames` video frames span: the audio is cut or padded to this. */
export function samplesForFrames(frames: number, fps = 25, sampleRate = 16000): number {
  return Math.round((frames * sampleRate) / fps);
}
