import type { Tensor } from '../../tensor/tensor.ts';
import { Module, uniformInit, type Parameter } from '../module.ts';
import { conv2d, reshape, type Padding } from '../ops.ts';
import { channelsFirstToTokens, tokensToChannelsFirst } from './pointwise.ts';

export interface Conv2dOptions {
  stride?: number;
  /** Symmetric, or [top, bottom, left, right] (the VAE's downsampler pads (0, 1, 0, 1)). */
  padding?: Padding;
  bias?: boolean;
}

/** torch.nn.Conv2d with square kernels: weight [out, in, k, k], bias [out]; uniform(±1/sqrt(in*k*k)) as torch does. */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly stride: number;
  readonly padding: Padding;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dOptions = {},
  ) {
    super();
    const fanIn = inChannels * kernelSize * kernelSize;
    this.weight = this.param('weight', [outChannels, inChannels, kernelSize, kernelSize], uniformInit(fanIn));
    this.bias = opts.bias === false ? null : this.param('bias', [outChannels], uniformInit(fanIn));
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
  }

  /** x [N, in, H, W] -> [N, out, H', W']. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight.t, this.bias?.t ?? null, { stride: this.stride, padding: this.padding });
  }

  /** A 1x1 conv on x [N, in, L] written as tokens [N, L, out] (Transformer2DModel's proj_in). */
  forwardToTokens(x: Tensor): Tensor {
    return channelsFirstToTokens(x, this.pointwiseWeight(), this.bias?.t ?? null);
  }

  /** A 1x1 conv on tokens [N, L, in], written channels first [N, out, L] (Transformer2DModel's proj_out). */
  forwardFromTokens(x: Tensor): Tensor {
    return tokensToChannelsFirst(x, this.pointwiseWeight(), this.bias?.t ?? null);
  }

  private pointwiseWeight(): Tensor {
    if (this.kernelSize !== 1) throw new Error(`Conv2d ${this.kernelSize}x${this.kernelSize}: token layouts need a 1x1 kernel`);
    return reshape(this.weight.t, [this.outChannels, this.inChannels]);
  }
}
