import type { Tensor } from '../../tensor/tensor.ts';
import { Conv2d } from '../layers/conv2d.ts';
import { Module } from '../module.ts';
import { upsampleNearest2x } from '../ops.ts';
import { chain } from './chain.ts';

/** diffusers' Upsample2D with a conv: nearest 2x, then a 3x3 conv (padding 1). */
export class Upsample2D extends Module {
  readonly conv: Conv2d;

  constructor(channels: number) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, channels, 3, { padding: 1 }));
  }

  forward(x: Tensor): Tensor {
    return chain(x, upsampleNearest2x, (a) => this.conv.forward(a));
  }
}
