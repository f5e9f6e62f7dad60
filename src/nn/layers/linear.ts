import type { Tensor } from '../../tensor/tensor.ts';
import { Module, uniformInit, type Parameter } from '../module.ts';
import { linear } from '../ops.ts';
import { channelsFirstToTokens, tokensToChannelsFirst } from './pointwise.ts';

/** torch.nn.Linear: weight [out, in], bias [out]; both start uniform(±1/sqrt(in)) as torch does. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    hasBias = true,
  ) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures], uniformInit(inFeatures));
    this.bias = hasBias ? this.param('bias', [outFeatures], uniformInit(inFeatures)) : null;
  }

  /** x [..., in] -> [..., out]. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight.t, this.bias?.t ?? null);
  }

  /** x [N, in, L] (channels first, as a feature map is stored) -> tokens [N, L, out]. */
  forwardFromChannelsFirst(x: Tensor): Tensor {
    return channelsFirstToTokens(x, this.weight.t, this.bias?.t ?? null);
  }

  /** tokens [N, L, in] -> [N, out, L] (channels first). */
  forwardToChannelsFirst(x: Tensor): Tensor {
    return tokensToChannelsFirst(x, this.weight.t, this.bias?.t ?? null);
  }
}
