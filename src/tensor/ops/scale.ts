import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { activationForward } from './activation.ts';
import { asDtype } from './cast.ts';

/** y = s * x. Backward: s * gy. */
export function scale(x: Tensor, s: number, dtype: DType = x.dtype): Tensor {
  const y = activationForward(x, 'scale', s);
  record('scale', [x], [y], [], ([gy]) => [gy ? activationForward(gy, 'scale', s) : null]);
  return asDtype(y, dtype);
}
