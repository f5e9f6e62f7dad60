import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { Linear } from '../layers/linear.ts';
import { Module } from '../module.ts';
import { attention } from '../ops.ts';
import { chain } from './chain.ts';

/**
 * diffusers' Attention as BasicTransformerBlock uses it: to_q, to_k, to_v (bias only with attention_bias),
 * to_out.0 (with bias; to_out.1 is a Dropout without parameters). Keys and values come from `context`
 * (cross attention, cross_attention_dim wide) or from x itself.
 */
export class Attention extends Module {
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: Linear;

  constructor(
    queryDim: number,
    readonly heads: number,
    readonly dimHead: number,
    crossAttentionDim: number | null = null,
    bias = false,
  ) {
    super();
    const inner = heads * dimHead;
    const kvDim = crossAttentionDim ?? queryDim;
    this.toQ = this.child('to_q', new Linear(queryDim, inner, bias));
    this.toK = this.child('to_k', new Linear(kvDim, inner, bias));
    this.toV = this.child('to_v', new Linear(kvDim, inner, bias));
    this.toOut = this.child('to_out.0', new Linear(inner, queryDim));
  }

  /** x [N, L, queryDim], context [N, T, crossAttentionDim] or null (self attention) -> [N, L, queryDim]. */
  forward(x: Tensor, context: Tensor | null = null): Tensor {
    return scope(() => {
      const kv = context ?? x;
      const qkv = [this.toQ.forward(x), this.toK.forward(kv), this.toV.forward(kv)] as const;
      const out = attention(...qkv, this.heads, { scale: this.dimHead ** -0.5 });
      for (const t of qkv) t.dispose();
      return chain(out, (a) => this.toOut.forward(a));
    });
  }
}
