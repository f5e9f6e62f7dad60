import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { Conv2d } from '../layers/conv2d.ts';
import { GroupNorm } from '../layers/group-norm.ts';
import { Module } from '../module.ts';
import { add, reshape } from '../ops.ts';
import { chain } from './chain.ts';
import { BasicTransformerBlock } from './basic-transformer-block.ts';

/**
 * diffusers' Transformer2DModel / LatentSync's Transformer3DModel with use_linear_projection false:
 * GroupNorm (32 groups, eps 1e-6, per frame: LatentSync folds the frames before it), proj_in (1x1 conv),
 * transformer_blocks over the H*W tokens of each frame, proj_out (1x1 conv), plus the input.
 */
export class Transformer2DModel extends Module {
  readonly norm: GroupNorm;
  readonly projIn: Conv2d;
  readonly blocks: BasicTransformerBlock[];
  readonly projOut: Conv2d;

  constructor(channels: number, heads: number, crossAttentionDim: number | null, groups: number, layers = 1) {
    super();
    if (channels % heads !== 0) throw new Error(`Transformer2DModel: ${channels} channels do not split into ${heads} heads`);
    this.norm = this.child('norm', new GroupNorm(groups, channels, 1e-6));
    this.projIn = this.child('proj_in', new Conv2d(channels, channels, 1));
    const blocks = Array.from({ length: layers }, () => new BasicTransformerBlock(channels, heads, channels / heads, crossAttentionDim));
    this.blocks = this.list('transformer_blocks', blocks);
    this.projOut = this.child('proj_out', new Conv2d(channels, channels, 1));
  }

  /** x [N, C, H, W], context [N, T, D] -> [N, C, H, W]. */
  forward(x: Tensor, context: Tensor | null): Tensor {
    return scope(() => {
      const [n, c, h, w] = x.shape;
      const out = chain(
        x,
        (a) => this.norm.forward(a),
        (a) => reshape(a, [n, c, h * w]),
        (a) => this.projIn.forwardToTokens(a),
        ...this.blocks.map((block) => (a: Tensor) => block.forward(a, context)),
        (a) => this.projOut.forwardFromTokens(a),
        (a) => reshape(a, x.shape),
      );
      return add(out, x);
    });
  }
}
