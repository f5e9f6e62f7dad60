import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { asDtype } from './cast.ts';
import { EXP, expClampKernel } from './exp-clamp-kernel.ts';

/** y = exp(x). Backward: g * y (the output is saved, not the input). */
export function exp(x: Tensor): Tensor {
  const y = asDtype(expClampKernel([x], EXP, 0, 0, 'exp'), x.dtype);
  record('exp', [x], [y], [y], ([g], [sy]) => [g ? expClampKernel([sy, g], EXP, 0, 0, 'exp backward') : null]);
  return y;
}
