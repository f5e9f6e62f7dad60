import type { GpuRuntime } from '../gpu/runtime.ts';
import { Rng } from '../diffusion/rng.ts';
import { NoiseSchedule } from '../diffusion/schedule.ts';
import { getPreset, modelFromConfig } from '../nn/presets.ts';
import { UNet3DConditionModel } from '../nn/unet/unet-3d-condition.ts';
import { mseLoss } from '../tensor/ops/mse-loss.ts';
import { Tensor } from '../tensor/tensor.ts';
import { accumulationOf, checkConfig, type TrainConfig } from './config.ts';
import { buildUnetBatch, pickWindow, type ClipLatents, type UnetBatch } from './sample.ts';
import { fitTraining } from './plan.ts';
import { Trainer, type LossTask } from './trainer.ts';

/**
 * The UNet a run trains: the preset's config, plus a learned audio projection when the data's tokens are not
 * cross_attention_dim wide (a dataset's log-mel frames: 20 x 80 per frame).
 */
export function unetModelConfig(c: Pick<TrainConfig, 'preset' | 'audioTokens' | 'audioDim'>): Record<string, unknown> {
  const config = getPreset(c.preset).config;
  // a config without audioDim (an older checkpoint's) takes tokens at the model's width
  return c.audioDim === undefined || Number(config.cross_attention_dim) === c.audioDim ? config : { ...config, audio_feature_shape: [c.audioTokens, c.audioDim] };
}

/** LatentSync stage 1's loss: MSE between the predicted and the true noise. */
export function unetLossTask(model: UNet3DConditionModel, rt: GpuRuntime): LossTask<UnetBatch> {
  return {
    model,
    loss(b) {
      const { n, frames, h, w, tokens, dim } = b.shape;
      const x = Tensor.fromArray(rt, b.input, [n, 13, h, w], 'f32', 'data', 'unet input');
      const t = Tensor.fromArray(rt, b.timesteps, [n], 'f32', 'data', 'timesteps');
      const ctx = Tensor.fromArray(rt, b.audio, [n, tokens, dim], 'f32', 'data', 'audio tokens');
      const target = Tensor.fromArray(rt, b.target, [n, 4, h, w], 'f32', 'data', 'noise target');
      return mseLoss(model.forward(x, t, ctx, frames), target);
    },
  };
}

/**
 * A UNet training run: the model, its trainer and a deterministic stream of micro-batches. The planner
 * builds exactly this on the meta device, so planned and measured memory come from the same code.
 */
export class UnetTraining {
  readonly model: UNet3DConditionModel;
  readonly trainer: Trainer<UnetBatch>;
  readonly schedule = new NoiseSchedule();
  rng: Rng;
  /** The rest of the current epoch's permutation of clip indices (checkpoints save and restore it with rng). */
  order: number[] = [];

  constructor(
    readonly rt: GpuRuntime,
    readonly config: TrainConfig,
    readonly clips: readonly ClipLatents[],
  ) {
    checkConfig(config);
    const preset = getPreset(config.preset);
    if (preset.kind !== 'unet') throw new Error(`preset ${config.preset} is a ${preset.kind}; UNet training needs a UNet preset`);
    if (!clips.length) throw new Error('UNet training needs at least one clip');
    const model = modelFromConfig(unetModelConfig(config), { activationDtype: config.precision, zeroInitConvOut: false }) as UNet3DConditionModel;
    model.setGradientCheckpointing(config.checkpointing);
    model.materialize(rt, { seed: config.seed });
    this.model = model;
    this.rng = new Rng(config.seed);
    this.trainer = new Trainer(rt, unetLossTask(model, rt), {
      lr: config.lr,
      betas: config.betas,
      eps: config.eps,
      weightDecay: config.weightDecay,
      clipNorm: config.clipNorm,
      precision: config.precision,
      halfWeightCopy: config.halfWeightCopy,
    });
  }

  /**
   * Plans first (meta device, same code) and allocates only when the plan fits the runtime's budget, so a
   * configuration that cannot fit is refused with advice before any GPU memory is taken.
   */
  static async create(rt: GpuRuntime, config: TrainConfig, clips: readonly ClipLatents[]): Promise<UnetTraining> {
    const budget = rt.ledger.budget - rt.ledger.held;
    const fit = await fitTraining(config, rt.limits, budget, { keepConfig: true });
    if (!fit.chosen) throw new Error(fit.advice);
    return new UnetTraining(rt, config, clips);
  }

  /** The next optimizer step's micro-batches: a seeded permutation of the clips, epoch after epoch. */
  nextMicroBatches(): UnetBatch[] {
    const c = this.config;
    return Array.from({ length: accumulationOf(c) }, () => {
      const picks = Array.from({ length: c.microBatch }, () => {
        if (!this.order.length) this.order = this.rng.permutation(this.clips.length);
        const clip = this.order.shift()!;
        return pickWindow(this.rng, clip, this.clips[clip].frames, c.frames);
      });
      return buildUnetBatch(this.clips, picks, c.frames, this.schedule, this.rng, c.mixedNoiseAlpha, c.audioDropout);
    });
  }

  step() {
    return this.trainer.trainStep(this.nextMicroBatches());
  }

  dispose(): void {
    this.trainer.dispose();
    this.model.dispose();
  }
}
