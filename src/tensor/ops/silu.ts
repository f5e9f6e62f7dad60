import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { activationBackward, activationForward } from './activation.ts';
import { asDtype } from './cast.ts';

/** SiLU (swish): x * sigmoid(x). Backward: gy * s (1 + x (1 - s)). */
export function silu(x: Tensor, dtype: DType = x.dtype): Tensor {
  const y = activationForward(x, 'silu');
  record('silu', [x], [y], [x], ([gy], [sx]) => [gy ? activationBackward(sx, gy, 'silu') : null]);
  return asDtype(y, dtype);
}
