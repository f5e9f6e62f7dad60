import type { Tensor } from '../../tensor/tensor.ts';
import { Linear } from '../layers/linear.ts';
import { Module } from '../module.ts';
import { geglu } from '../ops.ts';
import { chain } from './chain.ts';

/**
 * diffusers' FeedForward with activation_fn "geglu": net.0 is GEGLU (its proj maps dim -> 2 * 4 * dim; the
 * first half times gelu of the second), net.1 a Dropout (no parameters), net.2 maps 4 * dim -> dim.
 */
export class FeedForward extends Module {
  readonly proj: Linear;
  readonly out: Linear;

  constructor(dim: number, mult = 4) {
    super();
    this.proj = this.child('net.0.proj', new Linear(dim, dim * mult * 2));
    this.out = this.child('net.2', new Linear(dim * mult, dim));
  }

  forward(x: Tensor): Tensor {
    return chain(x, (a) => this.proj.forward(a), geglu, (a) => this.out.forward(a));
  }
}
