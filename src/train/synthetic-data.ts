import { Rng } from '../diffusion/rng.ts';
import type { ClipLatents } from './sample.ts';

export interface SyntheticSpec {
  clips: number;
  frames: number;
  latentChannels: number;
  height: number;
  width: number;
  tokens: number;
  dim: number;
  seed: number;
}

/**
 * Clips made of smooth latent patterns whose lower half moves with a per-frame "audio" signal, so a UNet
 * has something learnable before real data exists (CLI `train --data synthetic`, tests, planning).
 */
export function syntheticClips(spec: SyntheticSpec): ClipLatents[] {
  const rng = new Rng(spec.seed);
  const { latentChannels: c, height: h, width: w, tokens, dim } = spec;
  const mask = new Float32Array(h * w).map((_, i) => (Math.floor(i / w) < h / 2 ? 1 : 0));
  return Array.from({ length: spec.clips }, (_, k) => {
    const phase = rng.uniform() * Math.PI * 2;
    const freq = 0.2 + rng.uniform() * 0.3;
    const base = rng.normals(c * h * w).map((v) => v * 0.5);
    const open = (f: number) => 0.5 + 0.5 * Math.sin(phase + f * freq);
    const latents = (f: number) => {
      const out = base.slice();
      const o = open(f);
      for (let ch = 0; ch < c; ch++)
        for (let y = Math.floor(h / 2); y < h; y++) for (let x = 0; x < w; x++) out[(ch * h + y) * w + x] += o * Math.cos((x + ch) * 0.7) * (y - h / 2 + 1) * 0.3;
      return out;
    };
    const maskedLatents = (f: number) => latents(f).map((v, i) => v * mask[i % (h * w)]);
    const audio = (f: number) => new Float32Array(tokens * dim).map((_, i) => Math.sin((i % dim) * 0.3 + open(f) * 3));
    return { id: `synthetic-${k}`, frames: spec.frames, shape: [c, h, w] as const, latents, maskedLatents, mask, audio, audioShape: [tokens, dim] as const };
  });
}
