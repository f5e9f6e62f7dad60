import type { Tensor } from '../../tensor/tensor.ts';
import { chain } from '../blocks/chain.ts';
import { Conv2d } from '../layers/conv2d.ts';
import { GroupNorm } from '../layers/group-norm.ts';
import { Module } from '../module.ts';
import { silu } from '../ops.ts';
import type { AutoencoderKLConfig } from './config.ts';
import { VaeMidBlock } from './mid-block.ts';
import { UpDecoderBlock2D } from './up-decoder-block.ts';

/** diffusers' Decoder: latents [N, latent_channels, h, w] -> images [N, out, h * 2^(n-1), w * 2^(n-1)]. */
export class Decoder extends Module {
  readonly convIn: Conv2d;
  readonly midBlock: VaeMidBlock;
  readonly upBlocks: UpDecoderBlock2D[];
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(cfg: AutoencoderKLConfig) {
    super();
    const ch = cfg.block_out_channels;
    const rev = [...ch].reverse();
    const groups = cfg.norm_num_groups;
    this.convIn = this.child('conv_in', new Conv2d(cfg.latent_channels, rev[0], 3, { padding: 1 }));
    this.midBlock = this.child('mid_block', new VaeMidBlock(rev[0], groups, cfg.mid_block_add_attention));
    const blocks = rev.map((c, i) => new UpDecoderBlock2D(rev[Math.max(i - 1, 0)], c, cfg.layers_per_block + 1, groups, i < ch.length - 1));
    this.upBlocks = this.list('up_blocks', blocks);
    this.convNormOut = this.child('conv_norm_out', new GroupNorm(groups, ch[0], 1e-6));
    this.convOut = this.child('conv_out', new Conv2d(ch[0], cfg.out_channels, 3, { padding: 1 }));
  }

  forward(latents: Tensor): Tensor {
    return chain(
      latents,
      (a) => this.convIn.forward(a),
      (a) => this.midBlock.forward(a),
      ...this.upBlocks.map((b) => (a: Tensor) => b.forward(a)),
      (a) => this.convNormOut.forward(a),
      silu,
      (a) => this.convOut.forward(a),
    );
  }
}
