import type { Tensor } from '../../tensor/tensor.ts';
import { Downsample2D } from '../blocks/downsample-2d.ts';
import { ResnetBlock2D } from '../blocks/resnet-block-2d.ts';
import { chain } from '../blocks/chain.ts';
import { maybeCheckpoint } from '../blocks/checkpointed.ts';
import { Module } from '../module.ts';

/** diffusers' DownEncoderBlock2D: resnets, then (except the last block) a stride-2 conv padded (0, 1, 0, 1). */
export class DownEncoderBlock2D extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly downsampler: Downsample2D | null;
  /** Recompute each resnet in backward instead of keeping its activations. */
  gradientCheckpointing = false;

  constructor(inChannels: number, outChannels: number, layers: number, groups: number, downsample: boolean) {
    super();
    const resnets = Array.from({ length: layers }, (_, i) => new ResnetBlock2D(i === 0 ? inChannels : outChannels, outChannels, null, groups, 1e-6));
    this.resnets = this.list('resnets', resnets);
    this.downsampler = downsample ? this.child('downsamplers.0', new Downsample2D(outChannels, [0, 1, 0, 1])) : null;
  }

  forward(x: Tensor): Tensor {
    const cp = this.gradientCheckpointing;
    const resampler = this.downsampler;
    return chain(
      x,
      ...this.resnets.map((r) => (h: Tensor) => maybeCheckpoint(cp, (a) => r.forward(a!, null), h)),
      ...(resampler ? [(h: Tensor) => resampler.forward(h)] : []),
    );
  }
}
