import { sampleGaussian } from '../nn/vae/diagonal-gaussian.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { add, addScaled } from '../tensor/ops/add.ts';
import { mseLoss } from '../tensor/ops/mse-loss.ts';
import { mul } from '../tensor/ops/mul.ts';
import { mean } from '../tensor/ops/reduce.ts';
import { exp } from '../tensor/ops/exp.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { LossTask } from './trainer.ts';

/** Frames for the VAE, on the host: images in [-1, 1] and the standard-normal noise of the latent sample. */
export interface VaeBatch {
  images: Float32Array;
  noise: Float32Array;
  /** [N, 3, H, W] */
  shape: readonly [number, number, number, number];
}

/**
 * KL(q(z|x) || N(0, I)) per latent element: 0.5 * mean(mu^2 + exp(logvar) - 1 - logvar). LDM sums over
 * the latent instead; the per-element mean keeps `klWeight` independent of the resolution.
 */
export function klDivergence(mu: Tensor, logvar: Tensor): Tensor {
  const terms = add(mean(mul(mu, mu)), mean(exp(logvar)));
  const minusOne = Tensor.fromArray(mu.rt, [-1], [1], 'f32', 'data', 'kl -1');
  return mul(addScaled(add(terms, minusOne), mean(logvar), -1), Tensor.fromArray(mu.rt, [0.5], [1], 'f32', 'data', 'kl 1/2'));
}

/** Reconstruction MSE plus a small KL term, the AutoencoderKL training objective (no GAN, no LPIPS). */
export function vaeLossTask(model: AutoencoderKL, rt: GpuRuntime, klWeight = 1e-6): LossTask<VaeBatch> {
  return {
    model,
    loss(b) {
      const [n, c, h, w] = b.shape;
      const x = Tensor.fromArray(rt, b.images, [n, c, h, w], 'f32', 'data', 'frames');
      const { mean: mu, logvar } = model.encode(x);
      const f = model.config.latent_channels;
      const down = 2 ** (model.config.block_out_channels.length - 1);
      const noise = Tensor.fromArray(rt, b.noise, [n, f, h / down, w / down], 'f32', 'data', 'latent noise');
      const recon = model.decode(sampleGaussian(mu, logvar, noise));
      return addScaled(mseLoss(recon, x), klDivergence(mu, logvar), klWeight);
    },
  };
}
