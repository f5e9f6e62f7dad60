import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { LayerNorm } from '../layers/layer-norm.ts';
import { Module } from '../module.ts';
import { add } from '../ops.ts';
import { chain } from './chain.ts';
import { Attention } from './attention.ts';
import { FeedForward } from './feed-forward.ts';

/**
 * diffusers' BasicTransformerBlock (LatentSync's, motion modules off): self attention, cross attention to
 * the audio tokens (norm2/attn2 exist only with add_audio_layer, as in LatentSync), GEGLU feed-forward;
 * pre-LayerNorm and a residual around each.
 */
export class BasicTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn1: Attention;
  readonly norm2: LayerNorm | null;
  readonly attn2: Attention | null;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;

  constructor(dim: number, heads: number, dimHead: number, crossAttentionDim: number | null) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(dim));
    this.attn1 = this.child('attn1', new Attention(dim, heads, dimHead));
    this.norm2 = crossAttentionDim === null ? null : this.child('norm2', new LayerNorm(dim));
    this.attn2 = crossAttentionDim === null ? null : this.child('attn2', new Attention(dim, heads, dimHead, crossAttentionDim));
    this.norm3 = this.child('norm3', new LayerNorm(dim));
    this.ff = this.child('ff', new FeedForward(dim));
  }

  /** x [N, L, dim], context [N, T, crossAttentionDim] -> [N, L, dim]. */
  forward(x: Tensor, context: Tensor | null): Tensor {
    return scope(() => {
      const residual = (branch: (t: Tensor) => Tensor) => (h: Tensor) => {
        const y = branch(h);
        const out = add(y, h);
        y.dispose();
        return out;
      };
      const { norm2, attn2 } = this;
      return chain(
        x,
        residual((h) => chain(this.norm1.forward(h), (a) => this.attn1.forward(a))),
        (h) => (norm2 && attn2 && context ? residual((a) => chain(norm2.forward(a), (b) => attn2.forward(b, context)))(h) : h),
        residual((h) => chain(this.norm3.forward(h), (a) => this.ff.forward(a))),
      );
    });
  }
}
