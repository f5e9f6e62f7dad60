/**
 * AutoencoderKL's config, with diffusers' config JSON field names. parseVaeConfig fills diffusers' defaults
 * and refuses what would change the architecture in a way this implementation does not build.
 */
export interface AutoencoderKLConfig {
  _class_name: 'AutoencoderKL';
  in_channels: number;
  out_channels: number;
  latent_channels: number;
  block_out_channels: number[];
  down_block_types: string[];
  up_block_types: string[];
  layers_per_block: number;
  norm_num_groups: number;
  act_fn: 'silu';
  sample_size: number;
  scaling_factor: number;
  use_quant_conv: boolean;
  use_post_quant_conv: boolean;
  mid_block_add_attention: boolean;
}

const DEFAULTS: AutoencoderKLConfig = {
  _class_name: 'AutoencoderKL',
  in_channels: 3,
  out_channels: 3,
  latent_channels: 4,
  block_out_channels: [64],
  down_block_types: ['DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 32,
  act_fn: 'silu',
  sample_size: 32,
  scaling_factor: 0.18215,
  use_quant_conv: true,
  use_post_quant_conv: true,
  mid_block_add_attention: true,
};

export function parseVaeConfig(json: Record<string, unknown>): AutoencoderKLConfig {
  const cfg = { ...DEFAULTS, ...pickKnown(json) } as AutoencoderKLConfig;
  const fail = (what: string): never => {
    throw new Error(`AutoencoderKL config: ${what}`);
  };
  if (json._class_name !== undefined && json._class_name !== 'AutoencoderKL') fail(`_class_name is ${String(json._class_name)}, not AutoencoderKL`);
  const n = cfg.block_out_channels.length;
  if (!n || !cfg.block_out_channels.every((c) => Number.isInteger(c) && c > 0 && c % cfg.norm_num_groups === 0)) {
    fail(`block_out_channels ${JSON.stringify(cfg.block_out_channels)} must be positive multiples of norm_num_groups (${cfg.norm_num_groups})`);
  }
  if (cfg.down_block_types.length !== n || cfg.down_block_types.some((t) => t !== 'DownEncoderBlock2D')) fail(`down_block_types must be ${n} x DownEncoderBlock2D`);
  if (cfg.up_block_types.length !== n || cfg.up_block_types.some((t) => t !== 'UpDecoderBlock2D')) fail(`up_block_types must be ${n} x UpDecoderBlock2D`);
  if (cfg.act_fn !== 'silu') fail(`act_fn ${cfg.act_fn} is not supported (silu only)`);
  if (!(cfg.layers_per_block >= 1)) fail(`layers_per_block ${cfg.layers_per_block}`);
  return cfg;
}

/** Only the fields we know; others (latents_mean, force_upcast, _diffusers_version, ...) do not shape the model. */
function pickKnown(json: Record<string, unknown>): Partial<AutoencoderKLConfig> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(DEFAULTS)) if (json[k] !== undefined && json[k] !== null) out[k] = json[k];
  return out as Partial<AutoencoderKLConfig>;
}
