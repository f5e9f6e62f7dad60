import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { ResnetBlock2D } from '../blocks/resnet-block-2d.ts';
import { Transformer2DModel } from '../blocks/transformer-2d.ts';
import { Module } from '../module.ts';
import { maybeCheckpoint } from '../blocks/checkpointed.ts';
import type { UNetBlockSpec } from './down-block.ts';

/** UNetMidBlock3DCrossAttn: resnets.0, attentions.0, resnets.1. */
export class UNetMidBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attention: Transformer2DModel;
  gradientCheckpointing = false;
  private readonly poolFrames: boolean;

  constructor(channels: number, spec: UNetBlockSpec) {
    super();
    this.resnets = this.list('resnets', [0, 1].map(() => new ResnetBlock2D(channels, channels, spec.tembChannels, spec.groups, spec.eps)));
    this.attention = this.child('attentions.0', new Transformer2DModel(channels, spec.heads!, spec.crossAttentionDim, spec.groups, spec.transformerLayers));
    this.poolFrames = spec.poolFrames;
  }

  forward(x: Tensor, temb: Tensor, context: Tensor | null, frames: number): Tensor {
    return scope(() => {
      const cp = this.gradientCheckpointing;
      const f = this.poolFrames ? frames : 1;
      let h = maybeCheckpoint(cp, (a, t) => this.resnets[0].forward(a!, t, f), x, temb);
      h = maybeCheckpoint(cp, (a, c) => this.attention.forward(a!, c), h, context);
      return maybeCheckpoint(cp, (a, t) => this.resnets[1].forward(a!, t, f), h, temb);
    });
  }
}
