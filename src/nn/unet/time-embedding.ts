import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { Linear } from '../layers/linear.ts';
import { Module } from '../module.ts';
import { silu } from '../ops.ts';

/** diffusers' TimestepEmbedding: linear_1, silu, linear_2 (the sinusoids of time_proj have no parameters). */
export class TimestepEmbedding extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;

  constructor(inChannels: number, dim: number) {
    super();
    this.linear1 = this.child('linear_1', new Linear(inChannels, dim));
    this.linear2 = this.child('linear_2', new Linear(dim, dim));
  }

  forward(x: Tensor): Tensor {
    return scope(() => this.linear2.forward(silu(this.linear1.forward(x))));
  }
}
