import type { Rng } from './rng.ts';

/**
 * Training noise for a clip of `frames` frames of `perFrame` values each. Plain: independent normals.
 * Mixed (LatentSync's option): a component shared by all frames plus an independent one, scaled so the sum
 * stays unit-variance: eps_f = sqrt(a) * shared + sqrt(1 - a) * own_f, with a = alpha^2 / (1 + alpha^2).
 */
export function sampleNoise(rng: Rng, frames: number, perFrame: number, mixedAlpha: number | null = null): Float32Array {
  if (mixedAlpha === null) return rng.normals(frames * perFrame);
  const a = (mixedAlpha * mixedAlpha) / (1 + mixedAlpha * mixedAlpha);
  const shared = rng.normals(perFrame);
  const out = rng.normals(frames * perFrame);
  const ws = Math.sqrt(a);
  const wo = Math.sqrt(1 - a);
  for (let f = 0; f < frames; f++) for (let i = 0; i < perFrame; i++) out[f * perFrame + i] = ws * shared[i] + wo * out[f * perFrame + i];
  return out;
}

/** Uniform training timesteps in [0, numTrainTimesteps), one per sample. */
export function sampleTimesteps(rng: Rng, batch: number, numTrainTimesteps = 1000): number[] {
  return Array.from({ length: batch }, () => rng.int(numTrainTimesteps));
}
