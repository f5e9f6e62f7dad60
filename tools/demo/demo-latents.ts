// The demo clip as the UNet trainer takes it (src/train/sample.ts ClipLatents), from the demo VAE's latent
// encoder: latents of the frames and of the masked frames, the latent-size mask and the log-mel tokens,
// laid out as DatasetStore.clipLatents gives a dataset clip.
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { applyMask, nearestDownsample, pixelMask } from '../../src/data/mask.ts';
import { vaeLatentEncoder } from '../../src/data/vae-encoder.ts';
import type { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import type { ClipLatents } from '../../src/train/sample.ts';
import { audioShapeOf } from '../../src/store/dataset-store.ts';
import type { DemoClip } from './demo-clip.ts';

export async function demoClipLatents(rt: GpuRuntime, vae: AutoencoderKL, clip: DemoClip): Promise<ClipLatents> {
  const size = clip.config.resolution;
  const encoder = vaeLatentEncoder(vae, rt, 'demo-vae');
  const h = size / encoder.factor;
  const per = encoder.channels * h * h;
  const pmask = pixelMask(size, clip.config.mask);
  const frames = new Float32Array(clip.frames * 3 * size * size);
  const masked = new Float32Array(frames.length);
  for (let f = 0; f < clip.frames; f++) {
    const chw = clip.chw(f);
    frames.set(chw, f * chw.length);
    masked.set(applyMask(chw, pmask), f * chw.length);
  }
  const latents = await encoder.encode(frames, clip.frames, size);
  const maskedLatents = await encoder.encode(masked, clip.frames, size);
  return {
    id: 'demo',
    frames: clip.frames,
    shape: [encoder.channels, h, h],
    latents: (f) => latents.subarray(f * per, (f + 1) * per),
    maskedLatents: (f) => maskedLatents.subarray(f * per, (f + 1) * per),
    mask: nearestDownsample(pmask, size, h),
    audio: (f) => clip.tokens(f),
    audioShape: audioShapeOf(clip.config),
    pixels: (f) => clip.chw(f),
  };
}
