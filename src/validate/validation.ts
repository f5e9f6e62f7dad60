import { ddimSample, sharedNoise } from '../diffusion/ddim-sampler.ts';
import { Rng } from '../diffusion/rng.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { scale } from '../tensor/ops/scale.ts';
import { keep, scope } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';
import { pickWindow } from '../train/sample.ts';
import type { UnetTraining } from '../train/unet-training.ts';
import { decodeTiledToHost, type HostTensor, type TiledReport } from './tiled-vae.ts';
import { compositeLowerFace, mouthL1, psnr } from './metrics.ts';

export interface ValidationOptions {
  steps?: number;
  guidance?: number;
  /** Seeds the window and the noise; validation never draws from the training RNG (resume stays exact). */
  seed?: number;
  /** Bytes the decode may hold above what training holds; default: what the budget leaves. */
  capBytes?: number;
}

export interface ValidationResult {
  /** [F, 3, H, W] in [-1, 1]: generated lower face composited into the reference frames. */
  generated: HostTensor;
  /** [F, 3, H, W]: the ground truth (the clip's frames, or the VAE's decode of its latents). */
  reference: HostTensor;
  psnr: number;
  mouthL1: number;
  ms: number;
  decode: TiledReport | null;
}

/**
 * LatentSync's validation inside the budget: the pool's training transients are released, then DDIM sampling
 * with the training UNet (no autograd) and an exact tiled VAE decode capped at what the budget leaves, all
 * under the ledger phase "validation", so a plan that includes it predicts its peak.
 */
export async function validateUnet(run: UnetTraining, vae: AutoencoderKL, opts: ValidationOptions = {}): Promise<ValidationResult> {
  const { rt } = run;
  const ledger = rt.ledger;
  return ledger.inPhase('validation', async () => {
    ledger.trim();
    const t0 = performance.now();
    const frames = run.config.frames;
    const clip = run.clips[0];
    const rng = new Rng(opts.seed ?? 7);
    const pick = pickWindow(rng, 0, clip.frames, frames);
    const [c, h, w] = clip.shape;
    const [tokens, dim] = clip.audioShape;
    const stack = (get: (f: number) => Float32Array | null, per: number) => {
      const out = new Float32Array(frames * per);
      for (let f = 0; f < frames; f++) out.set(get(f) ?? new Float32Array(per), f * per);
      return out;
    };
    const sf = vae.scalingFactor;
    const gtLatents = stack((f) => clip.latents(pick.start + f), c * h * w);
    const latents = scope(() => {
      const up = (data: Float32Array, shape: number[], label: string) => Tensor.fromArray(rt, data, shape, 'f32', 'validation', label);
      const cond = {
        mask: up(stack(() => clip.mask, h * w), [frames, 1, h, w], 'mask'),
        maskedLatents: up(stack((f) => clip.maskedLatents(pick.start + f), c * h * w), [frames, c, h, w], 'masked latents'),
        refLatents: up(stack((f) => clip.latents(pick.refStart + f), c * h * w), [frames, c, h, w], 'reference latents'),
        audio: up(stack((f) => clip.audio(pick.start + f), tokens * dim), [frames, tokens, dim], 'audio'),
        frames,
      };
      const noise = sharedNoise(rt, rng.normals(c * h * w), frames, [c, h, w]);
      // ddimSample hands its result over (kept out of scopes): it is ours to free
      const out = ddimSample(run.model, run.schedule, cond, noise, { steps: opts.steps ?? 20, guidance: opts.guidance ?? 1.5 });
      try {
        return keep(scale(out, 1 / sf));
      } finally {
        out.dispose();
      }
    });
    let decode: TiledReport | null = null;
    const capBytes = opts.capBytes ?? ledger.budget - ledger.held;
    const generatedRaw = await decodeTiledToHost(vae, latents, { capBytes, onReport: (r) => (decode = r) });
    latents.dispose();
    const reference = clip.pixels
      ? { shape: generatedRaw.shape, data: stack((f) => clip.pixels!(pick.start + f), generatedRaw.data.length / frames) }
      : await decodeHost(vae, gtLatents, [frames, c, h, w], sf, capBytes);
    const generated = compositeLowerFace(generatedRaw, reference, clip.mask, h, w);
    return {
      generated,
      reference,
      psnr: psnr(generated.data, reference.data),
      mouthL1: mouthL1(generatedRaw, reference, clip.mask, h, w),
      ms: performance.now() - t0,
      decode,
    };
  });
}

async function decodeHost(vae: AutoencoderKL, latents: Float32Array, shape: number[], sf: number, capBytes: number): Promise<HostTensor> {
  const t = keep(scope(() => scale(Tensor.fromArray(vae.decoder.convIn.weight.t.rt, latents, shape, 'f32', 'validation', 'reference latents'), 1 / sf)));
  try {
    return await decodeTiledToHost(vae, t, { capBytes });
  } finally {
    t.dispose();
  }
}
