import { parseBytes } from '../../gpu/memory/bytes.ts';
import { getPreset } from '../../nn/presets.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../../train/config.ts';
import type { Args } from '../args.ts';

/** The training flags shared by `plan` and `train`. */
export function trainConfigFromArgs(args: Args): TrainConfig {
  const presetName = args.str('preset') ?? 'unet-tiny';
  const preset = getPreset(presetName);
  const cross = Number(preset.config.cross_attention_dim ?? 384);
  const precision = args.str('precision', DEFAULT_TRAIN.precision);
  if (precision !== 'f32' && precision !== 'f16') throw new Error(`--precision must be f32 or f16, got ${precision}`);
  const batch = args.num('batch', DEFAULT_TRAIN.batch)!;
  return {
    ...DEFAULT_TRAIN,
    preset: presetName,
    resolution: args.num('resolution', preset.resolution)!,
    frames: args.num('frames', presetName.startsWith('latentsync') ? 16 : 2)!,
    batch,
    microBatch: args.num('micro-batch', batch)!,
    checkpointing: args.bool('checkpointing'),
    precision,
    halfWeightCopy: args.bool('half-weight-copy'),
    lr: args.num('lr', DEFAULT_TRAIN.lr)!,
    seed: args.num('seed', DEFAULT_TRAIN.seed)!,
    audioTokens: args.num('audio-tokens', presetName.startsWith('latentsync') ? 50 : 4)!,
    audioDim: cross,
    validateEvery: args.num('validate-every', 0)!,
    audioDropout: args.num('audio-dropout', 0)!,
    vaePreset: args.str('vae'),
  };
}

export const budgetFromArgs = (args: Args): number | undefined => {
  const b = args.str('budget');
  return b === undefined ? undefined : parseBytes(b);
};
