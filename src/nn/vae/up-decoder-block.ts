import type { Tensor } from '../../tensor/tensor.ts';
import { ResnetBlock2D } from '../blocks/resnet-block-2d.ts';
import { Upsample2D } from '../blocks/upsample-2d.ts';
import { chain } from '../blocks/chain.ts';
import { maybeCheckpoint } from '../blocks/checkpointed.ts';
import { Module } from '../module.ts';

/** diffusers' UpDecoderBlock2D: resnets (layers_per_block + 1 of them), then (except the last block) nearest 2x + conv. */
export class UpDecoderBlock2D extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly upsampler: Upsample2D | null;
  /** Recompute each resnet in backward instead of keeping its activations. */
  gradientCheckpointing = false;

  constructor(inChannels: number, outChannels: number, layers: number, groups: number, upsample: boolean) {
    super();
    const resnets = Array.from({ length: layers }, (_, i) => new ResnetBlock2D(i === 0 ? inChannels : outChannels, outChannels, null, groups, 1e-6));
    this.resnets = this.list('resnets', resnets);
    this.upsampler = upsample ? this.child('upsamplers.0', new Upsample2D(outChannels)) : null;
  }

  forward(x: Tensor): Tensor {
    const cp = this.gradientCheckpointing;
    const resampler = this.upsampler;
    return chain(
      x,
      ...this.resnets.map((r) => (h: Tensor) => maybeCheckpoint(cp, (a) => r.forward(a!, null), h)),
      ...(resampler ? [(h: Tensor) => resampler.forward(h)] : []),
    );
  }
}
