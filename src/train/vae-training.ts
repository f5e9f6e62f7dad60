import { Rng } from '../diffusion/rng.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { getPreset } from '../nn/presets.ts';
import { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { Trainer } from './trainer.ts';
import { vaeLossTask, type VaeBatch } from './vae-loss.ts';

/** Frames on the host, [3, H, W] each, values in [-1, 1] (the dataset's face crops, or the demo clip's). */
export interface FrameSource {
  count: number;
  height: number;
  width: number;
  frame(i: number): Float32Array;
}

export interface VaeTrainConfig {
  preset: string;
  batch: number;
  lr: number;
  klWeight: number;
  seed: number;
  /** Fine-tune only the decoder (of an imported VAE): the encoder, and so the latents, stay fixed. */
  decoderOnly: boolean;
  checkpointing: boolean;
}

export const DEFAULT_VAE_TRAIN: Omit<VaeTrainConfig, 'preset'> = { batch: 4, lr: 1e-4, klWeight: 1e-6, seed: 1247, decoderOnly: false, checkpointing: false };

/**
 * Fits an AutoencoderKL to a clip's frames with the same Trainer as the UNet, so that a user without
 * pretrained weights (and the built-in demo) gets latents that mean something.
 */
export class VaeTraining {
  readonly model: AutoencoderKL;
  readonly trainer: Trainer<VaeBatch>;
  readonly rng: Rng;
  private order: number[] = [];

  constructor(
    readonly rt: GpuRuntime,
    readonly config: VaeTrainConfig,
    readonly frames: FrameSource,
    model?: AutoencoderKL,
  ) {
    const preset = getPreset(config.preset);
    if (preset.kind !== 'vae') throw new Error(`preset ${config.preset} is a ${preset.kind}; VAE training needs a VAE preset`);
    if (frames.count < 1) throw new Error('VAE training needs at least one frame');
    this.model = model ?? new AutoencoderKL(preset.config).materialize(rt, { seed: config.seed });
    this.model.setGradientCheckpointing(config.checkpointing);
    if (config.decoderOnly) for (const [name, p] of this.model.namedParameters()) if (!name.startsWith('decoder.') && !name.startsWith('post_quant_conv.')) p.t.requiresGrad = false;
    this.rng = new Rng(config.seed);
    this.trainer = new Trainer(rt, vaeLossTask(this.model, rt, config.klWeight), {
      lr: config.lr,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0,
      clipNorm: 1,
      precision: 'f32',
      halfWeightCopy: false,
    });
  }

  /** A seeded batch: frames in a shuffled order, epoch after epoch, and fresh latent noise. */
  nextBatch(): VaeBatch {
    const { height: h, width: w } = this.frames;
    const n = this.config.batch;
    const images = new Float32Array(n * 3 * h * w);
    for (let i = 0; i < n; i++) {
      if (!this.order.length) this.order = this.rng.permutation(this.frames.count);
      images.set(this.frames.frame(this.order.shift()!), i * 3 * h * w);
    }
    const down = 2 ** (this.model.config.block_out_channels.length - 1);
    const noise = this.rng.normals(n * this.model.config.latent_channels * (h / down) * (w / down));
    return { images, noise, shape: [n, 3, h, w] };
  }

  step() {
    return this.trainer.trainStep([this.nextBatch()]);
  }

  dispose(): void {
    this.trainer.dispose();
    this.model.dispose();
  }
}
