import type { Tensor } from '../../tensor/tensor.ts';
import { Conv2d } from '../layers/conv2d.ts';
import { Module } from '../module.ts';
import type { Padding } from '../ops.ts';

/**
 * diffusers' Downsample2D with a conv: 3x3, stride 2. The UNet pads 1 on every side; the VAE's encoder
 * (padding 0 in its config) pads (0, 1, 0, 1): right and bottom only.
 */
export class Downsample2D extends Module {
  readonly conv: Conv2d;

  constructor(channels: number, padding: Padding) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, channels, 3, { stride: 2, padding }));
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }
}
