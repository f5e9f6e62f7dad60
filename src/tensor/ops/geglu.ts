import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { gegluBackward, gegluForward } from './activation.ts';
import { asDtype } from './cast.ts';
import { geluAct, type GeluForm } from './gelu.ts';

/**
 * GEGLU as diffusers' FeedForward applies it after its projection: hidden, gate = x.chunk(2, dim=-1);
 * y = hidden * gelu(gate). x is [..., 2D], y is [..., D]. diffusers uses the erf form.
 */
export function geglu(x: Tensor, form: GeluForm = 'erf', dtype: DType = x.dtype): Tensor {
  const last = x.shape[x.shape.length - 1];
  if (x.shape.length === 0 || last % 2 !== 0) throw new RangeError(`geglu needs an even last dim, got [${x.shape}]`);
  const act = geluAct(form);
  const y = gegluForward(x, act);
  record(`geglu-${form}`, [x], [y], [x], ([gy], [sx]) => [gy ? gegluBackward(sx, gy, act) : null]);
  return asDtype(y, dtype);
}
