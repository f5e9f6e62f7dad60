import type { Tensor } from '../../tensor/tensor.ts';
import { constantInit, Module, type Parameter } from '../module.ts';
import { groupNorm } from '../ops.ts';

/** torch.nn.GroupNorm (affine): weight ones, bias zeros. */
export class GroupNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(
    readonly groups: number,
    readonly channels: number,
    readonly eps: number,
  ) {
    super();
    if (channels % groups !== 0) throw new Error(`GroupNorm: ${channels} channels do not split into ${groups} groups`);
    this.weight = this.param('weight', [channels], constantInit(1));
    this.bias = this.param('bias', [channels], constantInit(0));
  }

  /**
   * x [N, C, H, W]. With framesPerSample F > 1, the F adjacent rows of a folded [B*F, C, H, W] batch share
   * their statistics, as nn.GroupNorm on LatentSync's 5-D [B, C, F, H, W] tensor computes them.
   */
  forward(x: Tensor, framesPerSample = 1): Tensor {
    return groupNorm(x, this.weight.t, this.bias.t, { groups: this.groups, eps: this.eps, framesPerSample });
  }
}
