import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { add, clamp, exp, mul, scale, slice } from '../ops.ts';

/** LDM's DiagonalGaussianDistribution: the moments' first half of channels is the mean, the second the log-variance. */
export function splitMoments(moments: Tensor): { mean: Tensor; logvar: Tensor } {
  const c = moments.shape[1] / 2;
  return scope(() => ({ mean: slice(moments, 1, 0, c), logvar: clamp(slice(moments, 1, c, 2 * c), -30, 20) }));
}

/** mean + exp(logvar / 2) * noise: a latent sample for given standard-normal noise (seeded by the caller). */
export function sampleGaussian(mean: Tensor, logvar: Tensor, noise: Tensor): Tensor {
  return scope(() => add(mean, mul(exp(scale(logvar, 0.5)), noise)));
}
