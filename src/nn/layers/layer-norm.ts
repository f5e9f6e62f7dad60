import type { Tensor } from '../../tensor/tensor.ts';
import { constantInit, Module, type Parameter } from '../module.ts';
import { layerNorm } from '../ops.ts';

/** torch.nn.LayerNorm over the last dimension (affine): weight ones, bias zeros. */
export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', [dim], constantInit(1));
    this.bias = this.param('bias', [dim], constantInit(0));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight.t, this.bias.t, this.eps);
  }
}
