import { sampleNoise, sampleTimesteps } from '../diffusion/noise.ts';
import type { Rng } from '../diffusion/rng.ts';
import type { NoiseSchedule } from '../diffusion/schedule.ts';

/**
 * What the trainer needs of one clip, at latent resolution: the dataset's latent cache, or synthetic data.
 * The mask is LatentSync's: 1 where the frame is kept (upper face), 0 where the mouth is generated.
 */
export interface ClipLatents {
  id: string;
  frames: number;
  /** Latent channels, height, width (4, H/8, W/8). */
  shape: readonly [number, number, number];
  /** Latents of frame f: channels * height * width values. */
  latents(f: number): Float32Array;
  /** Latents of frame f with its lower face masked out, encoded by the VAE. */
  maskedLatents(f: number): Float32Array;
  /** height * width, at latent size. */
  mask: Float32Array;
  /** Audio tokens of frame f: tokens * dim values; null for a clip without audio (VAE training only). */
  audio(f: number): Float32Array | null;
  audioShape: readonly [number, number];
  /** The frame itself, [3, H, W] in [-1, 1], when the dataset has it (validation compares against it). */
  pixels?(f: number): Float32Array;
}

export interface WindowPick {
  clip: number;
  start: number;
  refStart: number;
}

/** One training micro-batch on the host, laid out as the UNet takes it (frames folded into the batch). */
export interface UnetBatch {
  /** [B*F, 13, h, w]: noisy latents, mask, masked latents, reference latents. */
  input: Float32Array;
  /** [B*F, 4, h, w]: the noise the UNet must predict (epsilon). */
  target: Float32Array;
  /** [B*F]: each sample's timestep, repeated over its frames. */
  timesteps: Float32Array;
  /** [B*F, T, D]: each frame's audio tokens. */
  audio: Float32Array;
  shape: { n: number; frames: number; h: number; w: number; tokens: number; dim: number };
}

/**
 * Picks a window of `frames` consecutive frames in a clip and a reference window elsewhere in the same
 * clip (not overlapping when the clip is long enough), as LatentSync's dataset does.
 */
export function pickWindow(rng: Rng, clipIndex: number, clipFrames: number, frames: number): WindowPick {
  if (clipFrames < frames) throw new Error(`clip ${clipIndex} has ${clipFrames} frames; a sample needs ${frames}. Use fewer frames per sample or a longer clip.`);
  const starts = clipFrames - frames + 1;
  const start = rng.int(starts);
  const far = Array.from({ length: starts }, (_, s) => s).filter((s) => Math.abs(s - start) >= frames);
  const refStart = far.length ? far[rng.int(far.length)] : rng.int(starts);
  return { clip: clipIndex, start, refStart };
}

/** Builds the 13-channel UNet input and its epsilon target for a micro-batch of windows. */
export function buildUnetBatch(
  clips: readonly ClipLatents[],
  picks: readonly WindowPick[],
  frames: number,
  schedule: NoiseSchedule,
  rng: Rng,
  mixedNoiseAlpha: number | null = null,
  audioDropout = 0,
): UnetBatch {
  const [c, h, w] = clips[picks[0].clip].shape;
  const [tokens, dim] = clips[picks[0].clip].audioShape;
  const hw = h * w;
  const per = c * hw;
  const n = picks.length * frames;
  const input = new Float32Array(n * 13 * hw);
  const target = new Float32Array(n * per);
  const timesteps = new Float32Array(n);
  const audio = new Float32Array(n * tokens * dim);
  const ts = sampleTimesteps(rng, picks.length, schedule.config.numTrainTimesteps);
  picks.forEach((pick, b) => {
    const clip = clips[pick.clip];
    if (clip.shape.join() !== [c, h, w].join() || clip.audioShape.join() !== [tokens, dim].join()) {
      throw new Error(`clip ${clip.id} has latents [${clip.shape}] / audio [${clip.audioShape}]; the batch needs [${[c, h, w]}] / [${[tokens, dim]}]`);
    }
    const eps = sampleNoise(rng, frames, per, mixedNoiseAlpha);
    // drawn only when dropout is on, so runs without it keep their random stream
    const unconditional = audioDropout > 0 && rng.uniform() < audioDropout;
    const { signal, noise } = schedule.noiseCoefficients(ts[b]);
    for (let f = 0; f < frames; f++) {
      const i = b * frames + f;
      const x0 = clip.latents(pick.start + f);
      const a = clip.audio(pick.start + f);
      if (!a) throw new Error(`clip ${clip.id} has no audio: it can train the VAE but not the UNet. Add a clip with an audio track.`);
      const base = i * 13 * hw;
      const e = eps.subarray(f * per, (f + 1) * per);
      for (let k = 0; k < per; k++) input[base + k] = signal * x0[k] + noise * e[k];
      input.set(clip.mask, base + per);
      input.set(clip.maskedLatents(pick.start + f), base + per + hw);
      input.set(clip.latents(pick.refStart + f), base + 2 * per + hw);
      target.set(e, i * per);
      timesteps[i] = ts[b];
      if (!unconditional) audio.set(a, i * tokens * dim); // else zeros, as the sampler's unconditional input
    }
  });
  return { input, target, timesteps, audio, shape: { n, frames, h, w, tokens, dim } };
}
