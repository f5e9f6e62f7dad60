import type { ImportRule } from '../state-dict.ts';

/**
 * diffusers before 0.14 (and converted LDM checkpoints) spelled the VAE mid-block attention
 * query/key/value/proj_attn, and some files store those projections as 1x1 convs [C, C, 1, 1]. This rule maps
 * both onto to_q/to_k/to_v/to_out.0 with [C, C] weights: same bytes, another name and shape.
 */
const OLD_TO_NEW: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };
const ATTENTION_KEY = /^((?:encoder|decoder)\.mid_block\.attentions\.0)\.(query|key|value|proj_attn|to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/;

export const vaeLegacyAttentionRule: ImportRule = (name, shape) => {
  const m = ATTENTION_KEY.exec(name);
  if (!m) return null;
  const [, prefix, proj, kind] = m;
  const squeezed = kind === 'weight' && shape.length === 4 && shape[2] === 1 && shape[3] === 1 ? shape.slice(0, 2) : shape;
  return { name: `${prefix}.${OLD_TO_NEW[proj] ?? proj}.${kind}`, shape: squeezed };
};
