import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { activationBackward, activationForward, type Act } from './activation.ts';
import { asDtype } from './cast.ts';

export type GeluForm = 'erf' | 'tanh';

export const geluAct = (form: GeluForm): Act => (form === 'erf' ? 'geluErf' : 'geluTanh');

/**
 * GELU: 'erf' is x * Phi(x) (torch's default), 'tanh' is torch's approximate='tanh',
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 */
export function gelu(x: Tensor, form: GeluForm = 'erf', dtype: DType = x.dtype): Tensor {
  const act = geluAct(form);
  const y = activationForward(x, act);
  record(`gelu-${form}`, [x], [y], [x], ([gy], [sx]) => [gy ? activationBackward(sx, gy, act) : null]);
  return asDtype(y, dtype);
}
