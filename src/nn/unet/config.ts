/**
 * LatentSync's UNet3DConditionModel config (motion modules off), with diffusers' config JSON field names; a
 * UNet2DConditionModel config of the same shape is accepted too (it is the same network with one frame).
 * parseUNetConfig fills diffusers' defaults and refuses options that would build a different network.
 */
export interface UNetConfig {
  _class_name: 'UNet3DConditionModel' | 'UNet2DConditionModel';
  in_channels: number;
  out_channels: number;
  block_out_channels: number[];
  down_block_types: string[];
  up_block_types: string[];
  layers_per_block: number;
  cross_attention_dim: number;
  /** diffusers' legacy naming: with no num_attention_heads, this is the number of heads (8 for SD-1.5). */
  attention_head_dim: number | number[];
  norm_num_groups: number;
  norm_eps: number;
  flip_sin_to_cos: boolean;
  freq_shift: number;
  sample_size: number;
  act_fn: 'silu';
  downsample_padding: number;
  mid_block_scale_factor: number;
  center_input_sample: boolean;
  resnet_time_scale_shift: 'default';
  use_linear_projection: boolean;
  only_cross_attention: boolean;
  dual_cross_attention: boolean;
  upcast_attention: boolean;
  transformer_layers_per_block: number;
  /** LatentSync: the audio cross attention (norm2/attn2) exists only with this on. */
  add_audio_layer: boolean;
  /** LatentSync: per-frame resnet GroupNorm statistics when on; pooled over the frames of a sample when off. */
  use_inflated_groupnorm: boolean;
  use_motion_module: boolean;
  /** latent-lab: the audio tokens' [count, width] when they are not cross_attention_dim wide (log-mel frames):
   *  a learned projection (audio_projection.*) takes them to that width. null: tokens come at that width. */
  audio_feature_shape: [number, number] | null;
}

const DEFAULTS: UNetConfig = {
  _class_name: 'UNet3DConditionModel',
  in_channels: 13,
  out_channels: 4,
  block_out_channels: [320, 640, 1280, 1280],
  down_block_types: ['CrossAttnDownBlock3D', 'CrossAttnDownBlock3D', 'CrossAttnDownBlock3D', 'DownBlock3D'],
  up_block_types: ['UpBlock3D', 'CrossAttnUpBlock3D', 'CrossAttnUpBlock3D', 'CrossAttnUpBlock3D'],
  layers_per_block: 2,
  cross_attention_dim: 384,
  attention_head_dim: 8,
  norm_num_groups: 32,
  norm_eps: 1e-5,
  flip_sin_to_cos: true,
  freq_shift: 0,
  sample_size: 32,
  act_fn: 'silu',
  downsample_padding: 1,
  mid_block_scale_factor: 1,
  center_input_sample: false,
  resnet_time_scale_shift: 'default',
  use_linear_projection: false,
  only_cross_attention: false,
  dual_cross_attention: false,
  upcast_attention: false,
  transformer_layers_per_block: 1,
  add_audio_layer: true,
  use_inflated_groupnorm: false,
  use_motion_module: false,
  audio_feature_shape: null,
};

const DOWN_TYPES = { CrossAttnDownBlock3D: true, CrossAttnDownBlock2D: true, DownBlock3D: false, DownBlock2D: false } as Record<string, boolean>;
const UP_TYPES = { CrossAttnUpBlock3D: true, CrossAttnUpBlock2D: true, UpBlock3D: false, UpBlock2D: false } as Record<string, boolean>;

/** Whether a down or up block type has cross-attention transformers. */
export const hasCrossAttention = (type: string): boolean => DOWN_TYPES[type] ?? UP_TYPES[type] ?? false;

/** Number of heads of block i (down order); diffusers reverses a per-block list for the up blocks. */
export function headsOf(cfg: UNetConfig, i: number): number {
  const h = cfg.attention_head_dim;
  return Array.isArray(h) ? h[i] : h;
}

export function parseUNetConfig(json: Record<string, unknown>): UNetConfig {
  const cfg = { ...DEFAULTS } as Record<string, unknown>;
  for (const k of Object.keys(DEFAULTS)) if (json[k] !== undefined && json[k] !== null) cfg[k] = json[k];
  const c = cfg as unknown as UNetConfig;
  const fail = (what: string): never => {
    throw new Error(`UNet config: ${what}`);
  };
  if (c._class_name !== 'UNet3DConditionModel' && c._class_name !== 'UNet2DConditionModel') fail(`_class_name ${String(c._class_name)} is not a UNet`);
  // diffusers' newer field: heads given directly.
  if (typeof json.num_attention_heads === 'number' || Array.isArray(json.num_attention_heads)) c.attention_head_dim = json.num_attention_heads as number | number[];
  const n = c.block_out_channels.length;
  if (n < 2) fail('block_out_channels needs at least two levels');
  if (!c.block_out_channels.every((ch) => Number.isInteger(ch) && ch > 0 && ch % c.norm_num_groups === 0)) {
    fail(`block_out_channels ${JSON.stringify(c.block_out_channels)} must be positive multiples of norm_num_groups (${c.norm_num_groups})`);
  }
  if (c.down_block_types.length !== n || c.down_block_types.some((t) => !(t in DOWN_TYPES))) fail(`down_block_types ${JSON.stringify(c.down_block_types)}`);
  if (c.up_block_types.length !== n || c.up_block_types.some((t) => !(t in UP_TYPES))) fail(`up_block_types ${JSON.stringify(c.up_block_types)}`);
  if (Array.isArray(c.attention_head_dim) && c.attention_head_dim.length !== n) fail('attention_head_dim needs one entry per block');
  for (let i = 0; i < n; i++) if (c.block_out_channels[i] % headsOf(c, i) !== 0) fail(`${c.block_out_channels[i]} channels do not split into ${headsOf(c, i)} heads`);
  const unsupported: [boolean, string][] = [
    [c.act_fn !== 'silu', `act_fn ${c.act_fn}`],
    [c.use_linear_projection, 'use_linear_projection true'],
    [c.only_cross_attention, 'only_cross_attention true'],
    [c.dual_cross_attention, 'dual_cross_attention true'],
    [c.center_input_sample, 'center_input_sample true'],
    [c.resnet_time_scale_shift !== 'default', `resnet_time_scale_shift ${c.resnet_time_scale_shift}`],
    [c.mid_block_scale_factor !== 1, `mid_block_scale_factor ${c.mid_block_scale_factor}`],
    [c.downsample_padding !== 1, `downsample_padding ${c.downsample_padding}`],
    [c.use_motion_module, 'use_motion_module true (stage-1 only: motion modules off)'],
    [!(c.transformer_layers_per_block >= 1), `transformer_layers_per_block ${c.transformer_layers_per_block}`],
  ];
  const a = c.audio_feature_shape;
  if (a !== null && !(Array.isArray(a) && a.length === 2 && a.every((v) => Number.isInteger(v) && v > 0))) fail(`audio_feature_shape ${JSON.stringify(a)} must be [tokens, width] or null`);
  const bad = unsupported.filter(([b]) => b).map(([, what]) => what);
  if (bad.length) fail(`not supported: ${bad.join(', ')}`);
  return c;
}
