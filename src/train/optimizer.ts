import type { GpuRuntime } from '../gpu/runtime.ts';
import { allFinite } from '../tensor/ops/all-finite.ts';
import { clipGradNorm } from '../tensor/ops/clip-grad-norm.ts';
import { keep, scope } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { adamwStep, createAdamWState, disposeAdamWState, type AdamWState } from './adamw.ts';

export interface OptimizerOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/**
 * AdamW with its guards: a finite check (an overflowed f16 step is skipped on the GPU, no readback needed
 * to decide), global-norm clipping, then the update of the f32 master weights. Its state (m, v) is
 * allocated up front under 'optimizer', so a plan sees it before the first step.
 */
export class Optimizer {
  readonly state: AdamWState;

  constructor(
    readonly rt: GpuRuntime,
    readonly params: Tensor[],
    readonly opts: OptimizerOptions,
  ) {
    this.state = createAdamWState(rt, params);
  }

  /**
   * Records one update from `grads` (bias correction counts applied steps on the GPU). Returns the [1]
   * finite flag and gradient norm for the caller to read back with whatever else it logs.
   */
  update(grads: Tensor[], clipNorm: number | null): { finite: Tensor; norm: Tensor } {
    const { finite, norm } = scope(() => {
      const finite = keep(allFinite(grads));
      const norm = keep(clipGradNorm(grads, clipNorm ?? Number.POSITIVE_INFINITY));
      adamwStep(this.params, grads, this.state, {
        lr: this.opts.lr,
        beta1: this.opts.betas[0],
        beta2: this.opts.betas[1],
        eps: this.opts.eps,
        weightDecay: this.opts.weightDecay,
        skipUnless: finite,
      });
      return { finite, norm };
    });
    return { finite, norm };
  }

  dispose(): void {
    disposeAdamWState(this.state);
  }
}
