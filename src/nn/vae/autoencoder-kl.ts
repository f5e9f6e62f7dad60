import type { DType } from '../../tensor/dtype.ts';
import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { chain } from '../blocks/chain.ts';
import { Conv2d } from '../layers/conv2d.ts';
import { Module } from '../module.ts';
import { cast } from '../ops.ts';
import type { ImportRule } from '../state-dict.ts';
import { parseVaeConfig, type AutoencoderKLConfig } from './config.ts';
import { Decoder } from './decoder.ts';
import { splitMoments } from './diagonal-gaussian.ts';
import { Encoder } from './encoder.ts';
import { vaeLegacyAttentionRule } from './legacy-names.ts';

/**
 * diffusers' AutoencoderKL: encoder, quant_conv, diagonal Gaussian, post_quant_conv, decoder, with its
 * state_dict names. Latents for the UNet are sample * scaling_factor (0.18215 for sd-vae-ft-mse, as
 * LatentSync forces); encode() and decode() work before that scaling, as diffusers' do.
 */
export class AutoencoderKL extends Module {
  readonly config: AutoencoderKLConfig;
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantConv: Conv2d | null;
  readonly postQuantConv: Conv2d | null;
  /** Key renames accepted on import (the old attention spelling). */
  override readonly importRule: ImportRule = vaeLegacyAttentionRule;
  /** Storage dtype of the activations (inputs are cast to it; compute is f32 either way). */
  activationDtype: DType;

  constructor(config: Partial<AutoencoderKLConfig> | Record<string, unknown>, opts: { activationDtype?: DType } = {}) {
    super();
    this.activationDtype = opts.activationDtype ?? 'f32';
    const cfg = (this.config = parseVaeConfig(config as Record<string, unknown>));
    const lat = cfg.latent_channels;
    this.encoder = this.child('encoder', new Encoder(cfg));
    this.decoder = this.child('decoder', new Decoder(cfg));
    this.quantConv = cfg.use_quant_conv ? this.child('quant_conv', new Conv2d(2 * lat, 2 * lat, 1)) : null;
    this.postQuantConv = cfg.use_post_quant_conv ? this.child('post_quant_conv', new Conv2d(lat, lat, 1)) : null;
  }

  /** Turns gradient checkpointing on or off for every encoder and decoder block. */
  setGradientCheckpointing(on: boolean): void {
    for (const b of [...this.encoder.downBlocks, this.encoder.midBlock, this.decoder.midBlock, ...this.decoder.upBlocks]) b.gradientCheckpointing = on;
  }

  get scalingFactor(): number {
    return this.config.scaling_factor;
  }

  /** images [N, 3, H, W] in [-1, 1] -> the latent distribution's mean and logvar (clamped to [-30, 20]). */
  encode(images: Tensor): { mean: Tensor; logvar: Tensor } {
    return scope(() => {
      const quant = this.quantConv;
      const moments = chain(this.asActivation(images), (a) => this.encoder.forward(a), (a) => (quant ? quant.forward(a) : a));
      return splitMoments(moments);
    });
  }

  /** latents [N, 4, h, w] (unscaled: divide by scaling_factor first) -> images [N, 3, 8h, 8w] for sd-vae. */
  decode(latents: Tensor): Tensor {
    return scope(() => {
      const post = this.postQuantConv;
      return chain(this.asActivation(latents), (a) => (post ? post.forward(a) : a), (a) => this.decoder.forward(a));
    });
  }

  private asActivation(x: Tensor): Tensor {
    return x.dtype === this.activationDtype ? x : cast(x, this.activationDtype);
  }
}
