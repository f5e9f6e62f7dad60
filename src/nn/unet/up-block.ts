import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { ResnetBlock2D } from '../blocks/resnet-block-2d.ts';
import { Transformer2DModel } from '../blocks/transformer-2d.ts';
import { Upsample2D } from '../blocks/upsample-2d.ts';
import { Module } from '../module.ts';
import { concat } from '../ops.ts';
import { chain } from '../blocks/chain.ts';
import { maybeCheckpoint } from '../blocks/checkpointed.ts';
import type { UNetBlockSpec } from './down-block.ts';

/**
 * CrossAttnUpBlock3D or UpBlock3D: layers_per_block + 1 resnets, each fed the previous output concatenated
 * (on channels) with one skip of the down path, latest first; then upsamplers.0 (nearest 2x + conv)
 * except on the last level.
 */
export class UNetUpBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly upsampler: Upsample2D | null;
  gradientCheckpointing = false;
  private readonly poolFrames: boolean;

  /** inChannels: the down level's input width (the last skip's); prevChannels: the previous up block's output. */
  constructor(inChannels: number, outChannels: number, prevChannels: number, spec: UNetBlockSpec, upsample: boolean) {
    super();
    const resnets = Array.from({ length: spec.layers }, (_, i) => {
      const skip = i === spec.layers - 1 ? inChannels : outChannels;
      return new ResnetBlock2D((i === 0 ? prevChannels : outChannels) + skip, outChannels, spec.tembChannels, spec.groups, spec.eps);
    });
    this.resnets = this.list('resnets', resnets);
    const attns = spec.heads === null ? [] : resnets.map(() => new Transformer2DModel(outChannels, spec.heads!, spec.crossAttentionDim, spec.groups, spec.transformerLayers));
    this.attentions = this.list('attentions', attns);
    this.upsampler = upsample ? this.child('upsamplers.0', new Upsample2D(outChannels)) : null;
    this.poolFrames = spec.poolFrames;
  }

  /** skips: this block's share of the down path's outputs, in the order they were made (the last is used first). */
  forward(x: Tensor, skips: Tensor[], temb: Tensor, context: Tensor | null, frames: number): Tensor {
    if (skips.length !== this.resnets.length) throw new Error(`UNetUpBlock: ${skips.length} skips for ${this.resnets.length} resnets`);
    return scope(() => {
      const cp = this.gradientCheckpointing;
      const f = this.poolFrames ? frames : 1;
      const upsampler = this.upsampler;
      return chain(
        x,
        ...this.resnets.flatMap((resnet, i) => {
          const attn = this.attentions[i];
          return [
            (h: Tensor) => concat([h, skips[skips.length - 1 - i]], 1),
            (h: Tensor) => maybeCheckpoint(cp, (a, t) => resnet.forward(a!, t, f), h, temb),
            ...(attn ? [(h: Tensor) => maybeCheckpoint(cp, (a, c) => attn.forward(a!, c), h, context)] : []),
          ];
        }),
        ...(upsampler ? [(h: Tensor) => upsampler.forward(h)] : []),
      );
    });
  }
}
