import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { asDtype } from './cast.ts';
import { CLAMP, expClampKernel } from './exp-clamp-kernel.ts';

/** y = min(max(x, lo), hi). Backward: g where lo <= x <= hi, else 0 (torch's convention at the edges). */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  const y = asDtype(expClampKernel([x], CLAMP, lo, hi, 'clamp'), x.dtype);
  record('clamp', [x], [y], [x], ([g], [sx]) => [g ? expClampKernel([sx, g], CLAMP, lo, hi, 'clamp backward') : null]);
  return y;
}
