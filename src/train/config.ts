import type { DType } from '../tensor/dtype.ts';

/** Everything that shapes a training run; the planner varies the memory knobs, the rest is the user's. */
export interface TrainConfig {
  /** Model preset name (src/nn/presets.ts). */
  preset: string;
  /** Pixel resolution of the frames (latents are resolution / 8). */
  resolution: number;
  /** Frames per sample (LatentSync: 16). */
  frames: number;
  /** Samples per optimizer step = microBatch * accumulation. */
  batch: number;
  /** Samples per forward/backward pass. */
  microBatch: number;
  /** Gradient checkpointing per block. */
  checkpointing: boolean;
  /** Storage of activations (compute and gradients stay f32). */
  precision: DType;
  /** The forward reads an f16 copy of the f32 master weights: half the weight traffic, +50% weight memory. */
  halfWeightCopy: boolean;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Global-norm gradient clipping (null: off). */
  clipNorm: number | null;
  seed: number;
  /** LatentSync's mixed noise alpha, or null for independent noise per frame. */
  mixedNoiseAlpha: number | null;
  /** Share of samples trained with zero audio, the unconditional input classifier-free guidance samples
   *  with (absent: 0, every sample conditioned). */
  audioDropout?: number;
  /** Run validation every N steps (0: never); the plan then includes the validation phase. */
  validateEvery: number;
  /** The VAE that decodes validation samples (a VAE preset's shapes; its weights come with the dataset).
   *  Default: sd-vae-ft-mse for the LatentSync presets, vae-tiny for the tiny ones (see vaePresetOf). */
  vaePreset?: string;
  /** Audio tokens per frame and their width (Whisper tiny: 50 x 384). */
  audioTokens: number;
  audioDim: number;
}

export const DEFAULT_TRAIN: Omit<TrainConfig, 'preset' | 'resolution' | 'audioTokens' | 'audioDim'> = {
  frames: 16,
  batch: 1,
  microBatch: 1,
  checkpointing: false,
  precision: 'f32',
  halfWeightCopy: false,
  lr: 1e-5,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 1e-2,
  clipNorm: 1.0,
  seed: 1247,
  mixedNoiseAlpha: null,
  validateEvery: 0,
};

export const vaePresetOf = (c: Pick<TrainConfig, 'preset' | 'vaePreset'>): string => c.vaePreset ?? (c.preset.startsWith('latentsync') ? 'sd-vae-ft-mse' : 'vae-tiny');

export const accumulationOf = (c: Pick<TrainConfig, 'batch' | 'microBatch'>): number => c.batch / c.microBatch;

/** Checks a config before anything is allocated; the messages say what to change. */
export function checkConfig(c: TrainConfig): void {
  const bad = (m: string) => {
    throw new Error(`training config: ${m}`);
  };
  if (!(c.resolution > 0 && c.resolution % 8 === 0)) bad(`resolution ${c.resolution} must be a positive multiple of 8 (the VAE downsamples by 8)`);
  if (!(Number.isInteger(c.frames) && c.frames >= 1)) bad(`frames per sample must be a whole number >= 1, got ${c.frames}`);
  if (!(Number.isInteger(c.microBatch) && c.microBatch >= 1)) bad(`micro-batch must be a whole number >= 1, got ${c.microBatch}`);
  if (!(Number.isInteger(c.batch) && c.batch % c.microBatch === 0)) bad(`batch ${c.batch} must be a multiple of the micro-batch ${c.microBatch}`);
  if (!(c.lr > 0)) bad(`learning rate must be positive, got ${c.lr}`);
  if (c.clipNorm !== null && !(c.clipNorm > 0)) bad(`clip norm must be positive or off, got ${c.clipNorm}`);
  if (c.audioDropout !== undefined && !(c.audioDropout >= 0 && c.audioDropout < 1)) bad(`audio dropout must be within [0, 1), got ${c.audioDropout}`);
}
