import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { GroupNorm } from '../layers/group-norm.ts';
import { Linear } from '../layers/linear.ts';
import { Module } from '../module.ts';
import { add, attention, reshape } from '../ops.ts';

/**
 * The VAE mid-block attention (diffusers' Attention built from the deprecated AttentionBlock): group_norm
 * (eps 1e-6), one head over all C channels, to_q/to_k/to_v/to_out.0 with biases, plus the input.
 * Older files spell the projections query/key/value/proj_attn (see legacy-names.ts).
 */
export class VaeMidBlockAttention extends Module {
  readonly groupNorm: GroupNorm;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: Linear;

  constructor(readonly channels: number, groups: number) {
    super();
    this.groupNorm = this.child('group_norm', new GroupNorm(groups, channels, 1e-6));
    this.toQ = this.child('to_q', new Linear(channels, channels));
    this.toK = this.child('to_k', new Linear(channels, channels));
    this.toV = this.child('to_v', new Linear(channels, channels));
    this.toOut = this.child('to_out.0', new Linear(channels, channels));
  }

  /** x [N, C, H, W]: every pixel of an image attends to every other. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      const [n, c, h, w] = x.shape;
      const normed = reshape(this.groupNorm.forward(x), [n, c, h * w]);
      const q = this.toQ.forwardFromChannelsFirst(normed);
      const k = this.toK.forwardFromChannelsFirst(normed);
      const v = this.toV.forwardFromChannelsFirst(normed);
      const out = this.toOut.forwardToChannelsFirst(attention(q, k, v, 1, { scale: c ** -0.5 }));
      return add(reshape(out, x.shape), x);
    });
  }
}
