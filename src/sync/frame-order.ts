// Which input frame each output frame shows, and how many output frames the audio makes.
// No DOM.
import { SYNC_FPS } from './api.ts';

/** Output frames for `samples` audio samples at `sampleRate`: the audio's duration at 25 fps, to the nearest frame. */
export function framesForAudio(samples: number, sampleRate: number): number {
  return Math.round((samples * SYNC_FPS) / sampleRate);
}

/**
 * The input frame shown at output frame k when the video has n frames: forwards, then backwards, then
 * forwards again, as LatentSync's loop_video concatenates frames, frames[::-1], frames, ... (the turning
 * frames repeat: ..., n-2, n-1, n-1, n-2, ...).
 */
export function pingPongIndex(k: number, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`pingPongIndex: the video needs at least one frame, got ${n}`);
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`pingPongIndex: output frame ${k} is not a frame index`);
  const lap = Math.floor(k / n), r = k % n;
  return lap % 2 === 0 ? r : n - 1 - r;
}
