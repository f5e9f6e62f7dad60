import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { Downsample2D } from '../blocks/downsample-2d.ts';
import { ResnetBlock2D } from '../blocks/resnet-block-2d.ts';
import { Transformer2DModel } from '../blocks/transformer-2d.ts';
import { Module } from '../module.ts';
import { maybeCheckpoint } from '../blocks/checkpointed.ts';

export interface UNetBlockSpec {
  tembChannels: number;
  layers: number;
  groups: number;
  eps: number;
  /** null: a block without transformers (DownBlock3D / UpBlock3D). */
  heads: number | null;
  crossAttentionDim: number | null;
  transformerLayers: number;
  /** GroupNorm statistics of the resnets pool the frames of a sample (off: per frame, use_inflated_groupnorm). */
  poolFrames: boolean;
}

/**
 * CrossAttnDownBlock3D (resnets.i + attentions.i) or DownBlock3D (resnets only), then downsamplers.0 (3x3,
 * stride 2, padding 1) except on the last level. Returns its output and the skips the up path concatenates.
 */
export class UNetDownBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly downsampler: Downsample2D | null;
  /** Recompute each resnet and transformer in backward instead of keeping their activations. */
  gradientCheckpointing = false;
  private readonly poolFrames: boolean;

  constructor(inChannels: number, outChannels: number, spec: UNetBlockSpec, downsample: boolean) {
    super();
    const resnets = Array.from({ length: spec.layers }, (_, i) => new ResnetBlock2D(i === 0 ? inChannels : outChannels, outChannels, spec.tembChannels, spec.groups, spec.eps));
    this.resnets = this.list('resnets', resnets);
    const attns = spec.heads === null ? [] : resnets.map(() => new Transformer2DModel(outChannels, spec.heads!, spec.crossAttentionDim, spec.groups, spec.transformerLayers));
    this.attentions = this.list('attentions', attns);
    this.downsampler = downsample ? this.child('downsamplers.0', new Downsample2D(outChannels, 1)) : null;
    this.poolFrames = spec.poolFrames;
  }

  forward(x: Tensor, temb: Tensor, context: Tensor | null, frames: number): { out: Tensor; skips: Tensor[] } {
    return scope(() => {
      const cp = this.gradientCheckpointing;
      const f = this.poolFrames ? frames : 1;
      const skips: Tensor[] = [];
      let h = x;
      this.resnets.forEach((resnet, i) => {
        h = maybeCheckpoint(cp, (a, t) => resnet.forward(a!, t, f), h, temb);
        const attn = this.attentions[i];
        if (attn) h = maybeCheckpoint(cp, (a, c) => attn.forward(a!, c), h, context);
        skips.push(h);
      });
      if (this.downsampler) {
        h = this.downsampler.forward(h);
        skips.push(h);
      }
      return { out: h, skips };
    });
  }
}
