import type { DType } from '../../tensor/dtype.ts';
import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { AudioProjection } from '../audio-projection.ts';
import { chain } from '../blocks/chain.ts';
import { Conv2d } from '../layers/conv2d.ts';
import { GroupNorm } from '../layers/group-norm.ts';
import { constantInit, Module } from '../module.ts';
import { cast, reshape, silu, timestepEmbedding } from '../ops.ts';
import { hasCrossAttention, headsOf, parseUNetConfig, type UNetConfig } from './config.ts';
import { UNetDownBlock, type UNetBlockSpec } from './down-block.ts';
import { UNetMidBlock } from './mid-block.ts';
import { TimestepEmbedding } from './time-embedding.ts';
import { UNetUpBlock } from './up-block.ts';

export interface UNetOptions {
  /** Start conv_in / conv_out at zero (LatentSync does so for channels that a pretrained model lacks). */
  zeroInitConvIn?: boolean;
  zeroInitConvOut?: boolean;
  /** Storage dtype of the activations (the input is cast to it; compute is f32 either way). */
  activationDtype?: DType;
}

/**
 * LatentSync's stage-1 UNet3DConditionModel with motion modules off, named key for key like its state_dict
 * (= diffusers' UNet2DConditionModel with 13 input channels and cross_attention_dim 384).
 *
 * Frames are folded into the batch: LatentSync's [B, C, F, H, W] is [B*F, C, H, W] here, frames of a sample
 * adjacent, with `frames` = F carried along. Convolutions, attention and the transformers' GroupNorm run per
 * frame; the resnets' norm1/norm2 and conv_norm_out pool their statistics over the F frames of a sample,
 * as nn.GroupNorm on the 5-D tensor does in LatentSync. With frames = 1 this is diffusers' 2D UNet.
 */
export class UNet3DConditionModel extends Module {
  readonly config: UNetConfig;
  readonly convIn: Conv2d;
  readonly timeEmbedding: TimestepEmbedding;
  readonly downBlocks: UNetDownBlock[];
  readonly midBlock: UNetMidBlock;
  readonly upBlocks: UNetUpBlock[];
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;
  /** Tokens of another width (log-mel frames) to cross_attention_dim; null when they come at that width. */
  readonly audioProjection: AudioProjection | null;
  activationDtype: DType;

  constructor(config: Partial<UNetConfig> | Record<string, unknown>, opts: UNetOptions = {}) {
    super();
    const cfg = (this.config = parseUNetConfig(config as Record<string, unknown>));
    this.activationDtype = opts.activationDtype ?? 'f32';
    const ch = cfg.block_out_channels;
    const n = ch.length;
    const tembChannels = ch[0] * 4;
    const spec = (heads: number | null): UNetBlockSpec => ({
      tembChannels,
      layers: cfg.layers_per_block,
      groups: cfg.norm_num_groups,
      eps: cfg.norm_eps,
      heads,
      crossAttentionDim: cfg.add_audio_layer ? cfg.cross_attention_dim : null,
      transformerLayers: cfg.transformer_layers_per_block,
      poolFrames: !cfg.use_inflated_groupnorm,
    });

    this.convIn = this.child('conv_in', new Conv2d(cfg.in_channels, ch[0], 3, { padding: 1 }));
    this.timeEmbedding = this.child('time_embedding', new TimestepEmbedding(ch[0], tembChannels));
    this.downBlocks = this.list(
      'down_blocks',
      cfg.down_block_types.map((type, i) => new UNetDownBlock(ch[Math.max(i - 1, 0)], ch[i], spec(hasCrossAttention(type) ? headsOf(cfg, i) : null), i < n - 1)),
    );
    this.midBlock = this.child('mid_block', new UNetMidBlock(ch[n - 1], spec(headsOf(cfg, n - 1))));
    const rev = [...ch].reverse();
    this.upBlocks = this.list(
      'up_blocks',
      cfg.up_block_types.map((type, i) => {
        const blockSpec = { ...spec(hasCrossAttention(type) ? headsOf(cfg, n - 1 - i) : null), layers: cfg.layers_per_block + 1 };
        return new UNetUpBlock(rev[Math.min(i + 1, n - 1)], rev[i], rev[Math.max(i - 1, 0)], blockSpec, i < n - 1);
      }),
    );
    this.convNormOut = this.child('conv_norm_out', new GroupNorm(cfg.norm_num_groups, ch[0], cfg.norm_eps));
    this.convOut = this.child('conv_out', new Conv2d(ch[0], cfg.out_channels, 3, { padding: 1 }));
    const audio = cfg.add_audio_layer ? cfg.audio_feature_shape : null;
    this.audioProjection = audio ? this.child('audio_projection', new AudioProjection(audio[1], audio[0], cfg.cross_attention_dim)) : null;

    for (const [conv, on] of [[this.convIn, opts.zeroInitConvIn], [this.convOut, opts.zeroInitConvOut]] as const) {
      if (!on) continue;
      conv.weight.init = constantInit(0);
      if (conv.bias) conv.bias.init = constantInit(0);
    }
  }

  /** Turns gradient checkpointing on or off for every block (the trainer's memory lever). */
  setGradientCheckpointing(on: boolean): void {
    for (const b of [...this.downBlocks, this.midBlock, ...this.upBlocks]) b.gradientCheckpointing = on;
  }

  /**
   * sample [B*F, in_channels, H, W] (frames of a sample adjacent); timestep [B*F] or [B] (f32 values);
   * context [B*F, T, cross_attention_dim] (each frame its own audio tokens; [B*F, ...audio_feature_shape] when
   * the model has an audio projection) or null; frames = F.
   * Returns [B*F, out_channels, H, W].
   */
  forward(sample: Tensor, timestep: Tensor, context: Tensor | null, frames = 1): Tensor {
    const [n, , height, width] = sample.shape;
    const levels = this.config.block_out_channels.length - 1;
    if (n % frames !== 0) throw new Error(`UNet: ${n} images do not fold into samples of ${frames} frames`);
    if (timestep.numel !== n && timestep.numel * frames !== n) throw new Error(`UNet: ${timestep.numel} timesteps for ${n} images of ${frames} frames`);
    if (context && context.shape[0] !== n) throw new Error(`UNet: context [${context.shape}] needs one row per image (${n})`);
    if (height % 2 ** levels || width % 2 ** levels) throw new Error(`UNet: ${height}x${width} latents must divide by ${2 ** levels}`);
    return scope(() => {
      const dtype = this.activationDtype;
      const x = sample.dtype === dtype ? sample : cast(sample, dtype);
      const typed = context && context.dtype !== dtype ? cast(context, dtype) : context;
      const ctx = typed && this.audioProjection ? this.audioProjection.forward(typed) : typed;
      const cfg = this.config;
      const tProj = timestepEmbedding(reshape(timestep, [timestep.numel]), cfg.block_out_channels[0], {
        flipSinToCos: cfg.flip_sin_to_cos,
        downscaleFreqShift: cfg.freq_shift,
      });
      const temb = this.timeEmbedding.forward(tProj);

      let h = this.convIn.forward(x);
      const skips: Tensor[] = [h];
      for (const block of this.downBlocks) {
        const r = block.forward(h, temb, ctx, frames);
        h = r.out;
        skips.push(...r.skips);
      }
      h = this.midBlock.forward(h, temb, ctx, frames);
      for (const block of this.upBlocks) {
        const mine = skips.splice(skips.length - block.resnets.length);
        const next = block.forward(h, mine, temb, ctx, frames);
        // The tape holds what backward needs; these handles are done.
        for (const t of [h, ...mine]) t.dispose();
        h = next;
      }
      const pooled = this.config.use_inflated_groupnorm ? 1 : frames;
      return chain(
        h,
        (a) => this.convNormOut.forward(a, pooled),
        silu,
        (a) => this.convOut.forward(a),
      );
    });
  }
}
