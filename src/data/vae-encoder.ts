// The latent cache's encoder from an AutoencoderKL: frames -> the latent distribution's mean times
// the VAE's scaling factor (0.18215 for sd-vae-ft-mse), the UNet's latent space. The mean, not a
// sample: a cache is made once, and a frozen sample would freeze its noise into every epoch.
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { scale } from '../nn/ops.ts';
import { scope } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { LatentEncoder } from './latent-cache.ts';

/** `id` names the weights (a checkpoint id or file hash): latents cached under another id are re-made. */
export function vaeLatentEncoder(vae: AutoencoderKL, rt: GpuRuntime, id: string): LatentEncoder {
  const factor = 2 ** (vae.config.block_out_channels.length - 1);
  return {
    id,
    factor,
    channels: vae.config.latent_channels,
    async encode(frames, n, size) {
      const latents = noGrad(() =>
        scope(() => {
          const x = Tensor.fromArray(rt, frames, [n, 3, size, size], 'f32', 'data', 'frames');
          return scale(vae.encode(x).mean, vae.scalingFactor);
        }),
      );
      try {
        return await latents.toArray();
      } finally {
        latents.dispose();
      }
    },
  };
}
