import type { Tensor } from '../../tensor/tensor.ts';
import { chain } from '../blocks/chain.ts';
import { Conv2d } from '../layers/conv2d.ts';
import { GroupNorm } from '../layers/group-norm.ts';
import { Module } from '../module.ts';
import { silu } from '../ops.ts';
import type { AutoencoderKLConfig } from './config.ts';
import { DownEncoderBlock2D } from './down-encoder-block.ts';
import { VaeMidBlock } from './mid-block.ts';

/** diffusers' Encoder (double_z): images [N, in, H, W] -> moments [N, 2 * latent_channels, H / 2^(n-1), W / 2^(n-1)]. */
export class Encoder extends Module {
  readonly convIn: Conv2d;
  readonly downBlocks: DownEncoderBlock2D[];
  readonly midBlock: VaeMidBlock;
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(cfg: AutoencoderKLConfig) {
    super();
    const ch = cfg.block_out_channels;
    const groups = cfg.norm_num_groups;
    this.convIn = this.child('conv_in', new Conv2d(cfg.in_channels, ch[0], 3, { padding: 1 }));
    const blocks = ch.map((c, i) => new DownEncoderBlock2D(ch[Math.max(i - 1, 0)], c, cfg.layers_per_block, groups, i < ch.length - 1));
    this.downBlocks = this.list('down_blocks', blocks);
    this.midBlock = this.child('mid_block', new VaeMidBlock(ch[ch.length - 1], groups, cfg.mid_block_add_attention));
    this.convNormOut = this.child('conv_norm_out', new GroupNorm(groups, ch[ch.length - 1], 1e-6));
    this.convOut = this.child('conv_out', new Conv2d(ch[ch.length - 1], 2 * cfg.latent_channels, 3, { padding: 1 }));
  }

  forward(images: Tensor): Tensor {
    return chain(
      images,
      (a) => this.convIn.forward(a),
      ...this.downBlocks.map((b) => (a: Tensor) => b.forward(a)),
      (a) => this.midBlock.forward(a),
      (a) => this.convNormOut.forward(a),
      silu,
      (a) => this.convOut.forward(a),
    );
  }
}
