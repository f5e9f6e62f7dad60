import type { Tensor } from '../../tensor/tensor.ts';
import { ResnetBlock2D } from '../blocks/resnet-block-2d.ts';
import { chain } from '../blocks/chain.ts';
import { maybeCheckpoint } from '../blocks/checkpointed.ts';
import { Module } from '../module.ts';
import { VaeMidBlockAttention } from './mid-block-attention.ts';

/** diffusers' UNetMidBlock2D as the VAE builds it: resnets.0, attentions.0, resnets.1 (eps 1e-6, no time embedding). */
export class VaeMidBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attention: VaeMidBlockAttention | null;
  gradientCheckpointing = false;

  constructor(channels: number, groups: number, addAttention: boolean) {
    super();
    this.resnets = this.list('resnets', [0, 1].map(() => new ResnetBlock2D(channels, channels, null, groups, 1e-6)));
    this.attention = addAttention ? this.child('attentions.0', new VaeMidBlockAttention(channels, groups)) : null;
  }

  forward(x: Tensor): Tensor {
    const cp = this.gradientCheckpointing;
    const attn = this.attention;
    return chain(
      x,
      (h) => maybeCheckpoint(cp, (a) => this.resnets[0].forward(a!, null), h),
      (h) => (attn ? maybeCheckpoint(cp, (a) => attn.forward(a!), h) : h),
      (h) => maybeCheckpoint(cp, (a) => this.resnets[1].forward(a!, null), h),
    );
  }
}
