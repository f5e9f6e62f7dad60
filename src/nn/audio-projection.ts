import type { Tensor } from '../tensor/tensor.ts';
import { Linear } from './layers/linear.ts';
import { Module, type Parameter } from './module.ts';
import { add } from './ops.ts';

/**
 * Audio tokens to the UNet's cross-attention width, learned with the UNet. Used when a dataset's
 * tokens are Whisper-style log-mel frames (20 x 80 a video frame, no encoder dropped), or encoder
 * states of another width than cross_attention_dim. LatentSync itself feeds Whisper tiny's 384-wide
 * states straight in and needs none.
 *
 * proj: Linear(inDim -> dim) per token; position_embedding [tokens, dim]: each token slot's place in
 * the window (log-mel frames carry no position of their own, and cross-attention ignores order).
 */
export class AudioProjection extends Module {
  readonly proj: Linear;
  readonly positionEmbedding: Parameter;

  constructor(
    readonly inDim: number,
    readonly tokens: number,
    readonly dim: number,
  ) {
    super();
    this.proj = this.child('proj', new Linear(inDim, dim));
    // small, like the 0.02-std embeddings of transformers, so it starts as a nudge
    this.positionEmbedding = this.param('position_embedding', [tokens, dim], { kind: 'uniform', bound: 0.02 });
  }

  /** tokens [N, tokens, inDim] -> context [N, tokens, dim]. */
  forward(x: Tensor): Tensor {
    if (x.shape.length !== 3 || x.shape[1] !== this.tokens || x.shape[2] !== this.inDim) {
      throw new Error(`AudioProjection takes [N, ${this.tokens}, ${this.inDim}], got [${x.shape}]`);
    }
    return add(this.proj.forward(x), this.positionEmbedding.t);
  }
}

/**
 * The projection a dataset's audio tokens need before cross-attention, or null when they fit as
 * they are (encoder states as wide as cross_attention_dim).
 */
export function audioProjectionFor(kind: 'logmel' | 'encoder', audioShape: readonly [number, number], crossAttentionDim: number): AudioProjection | null {
  const [tokens, width] = audioShape;
  if (kind === 'encoder' && width === crossAttentionDim) return null;
  return new AudioProjection(width, tokens, crossAttentionDim);
}
