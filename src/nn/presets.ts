import type { Module } from './module.ts';
import { UNet3DConditionModel, type UNetOptions } from './unet/unet-3d-condition.ts';
import { AutoencoderKL } from './vae/autoencoder-kl.ts';

/**
 * Named model configurations: the real ones (for planning, and for users with big GPUs) and tiny ones that
 * keep every block type, for the tests and the demo on a CPU rasterizer. Configs are diffusers-style JSON.
 */
export interface Preset {
  name: string;
  kind: 'unet' | 'vae';
  description: string;
  /** Pixel resolution the preset trains at (latents are resolution / 8 for the sd VAE). */
  resolution: number;
  config: Record<string, unknown>;
}

const SD_VAE_FT_MSE = {
  _class_name: 'AutoencoderKL',
  in_channels: 3,
  out_channels: 3,
  latent_channels: 4,
  block_out_channels: [128, 256, 512, 512],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
  layers_per_block: 2,
  norm_num_groups: 32,
  act_fn: 'silu',
  sample_size: 256,
  scaling_factor: 0.18215,
};

/** LatentSync's configs/unet/stage1*.yaml model section (motion modules off). */
const LATENTSYNC_STAGE1 = {
  _class_name: 'UNet3DConditionModel',
  in_channels: 13,
  out_channels: 4,
  block_out_channels: [320, 640, 1280, 1280],
  down_block_types: ['CrossAttnDownBlock3D', 'CrossAttnDownBlock3D', 'CrossAttnDownBlock3D', 'DownBlock3D'],
  up_block_types: ['UpBlock3D', 'CrossAttnUpBlock3D', 'CrossAttnUpBlock3D', 'CrossAttnUpBlock3D'],
  mid_block_type: 'UNetMidBlock3DCrossAttn',
  layers_per_block: 2,
  cross_attention_dim: 384,
  attention_head_dim: 8,
  norm_num_groups: 32,
  norm_eps: 1e-5,
  act_fn: 'silu',
  flip_sin_to_cos: true,
  freq_shift: 0,
  downsample_padding: 1,
  mid_block_scale_factor: 1,
  center_input_sample: false,
  resnet_time_scale_shift: 'default',
  add_audio_layer: true,
  use_inflated_groupnorm: false,
  use_motion_module: false,
};

export const PRESETS: Readonly<Record<string, Preset>> = {
  'sd-vae-ft-mse': { name: 'sd-vae-ft-mse', kind: 'vae', description: "Stable Diffusion's VAE (stabilityai/sd-vae-ft-mse), as LatentSync uses it", resolution: 256, config: SD_VAE_FT_MSE },
  'latentsync-stage1-256': {
    name: 'latentsync-stage1-256',
    kind: 'unet',
    description: 'LatentSync stage-1 UNet at 256 px (32x32 latents)',
    resolution: 256,
    config: { ...LATENTSYNC_STAGE1, sample_size: 32 },
  },
  'latentsync-stage1-512': {
    name: 'latentsync-stage1-512',
    kind: 'unet',
    description: 'LatentSync stage-1 UNet at 512 px (64x64 latents)',
    resolution: 512,
    config: { ...LATENTSYNC_STAGE1, sample_size: 64 },
  },
  'unet-tiny': {
    name: 'unet-tiny',
    kind: 'unet',
    description: 'every block type of the stage-1 UNet at toy width (tests, demo)',
    resolution: 16,
    config: {
      ...LATENTSYNC_STAGE1,
      block_out_channels: [32, 64],
      down_block_types: ['CrossAttnDownBlock3D', 'DownBlock3D'],
      up_block_types: ['UpBlock3D', 'CrossAttnUpBlock3D'],
      layers_per_block: 1,
      cross_attention_dim: 16,
      attention_head_dim: 2,
      norm_num_groups: 8,
      sample_size: 8,
    },
  },
  'vae-tiny': {
    name: 'vae-tiny',
    kind: 'vae',
    description: 'every block type of the VAE at toy width (tests, demo)',
    resolution: 16,
    config: {
      ...SD_VAE_FT_MSE,
      block_out_channels: [16, 32],
      down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
      up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
      layers_per_block: 1,
      norm_num_groups: 8,
      sample_size: 16,
    },
  },
};

export function getPreset(name: string): Preset {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}"; presets: ${Object.keys(PRESETS).join(', ')}`);
  return p;
}

export type AnyModel = UNet3DConditionModel | AutoencoderKL;

/** Builds the model a diffusers-style config describes (its _class_name says UNet or VAE). Nothing is allocated. */
/** `opts` apply to a UNet; a VAE takes their activationDtype. */
export function modelFromConfig(config: Record<string, unknown>, opts: UNetOptions = {}): AnyModel {
  // LatentSync's YAML model sections carry no _class_name: a UNet has cross_attention_dim, a VAE latent_channels.
  const cls = config._class_name ?? ('cross_attention_dim' in config ? 'UNet3DConditionModel' : 'latent_channels' in config ? 'AutoencoderKL' : undefined);
  if (cls === 'AutoencoderKL') return new AutoencoderKL(config, { activationDtype: opts.activationDtype });
  if (cls === 'UNet3DConditionModel' || cls === 'UNet2DConditionModel') return new UNet3DConditionModel({ ...config, _class_name: cls }, opts);
  throw new Error(`config _class_name ${JSON.stringify(cls)}: expected AutoencoderKL, UNet3DConditionModel or UNet2DConditionModel`);
}

export function modelFromPreset(name: string, opts: UNetOptions = {}): AnyModel {
  return modelFromConfig(getPreset(name).config, opts);
}

/** The import rule of a model (the VAE's old attention spelling), if it has one. */
export const importRuleOf = (m: Module) => m.importRule;
