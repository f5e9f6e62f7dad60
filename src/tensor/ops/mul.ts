import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { binaryKernel, sumToShape } from './add.ts';
import { asDtype } from './cast.ts';

/** a * b with numpy broadcasting (e.g. [N, C, H, W] * [1, C, 1, 1]). */
export function mul(a: Tensor, b: Tensor, dtype: DType = a.dtype): Tensor {
  const y = binaryKernel('mul', a, b, 1);
  // Each gradient needs only the other input: keep what the wanted gradients need.
  const [needA, needB] = [a.requiresGrad, b.requiresGrad];
  record('mul', [a, b], [y], [...(needA ? [b] : []), ...(needB ? [a] : [])], ([gy], saved) => [
    gy && needA ? gradFor(gy, saved[0], a.shape) : null,
    gy && needB ? gradFor(gy, saved[needA ? 1 : 0], b.shape) : null,
  ]);
  return asDtype(y, dtype);
}

/** d(a * b)/da = gy * b, summed over a's broadcast dims. */
function gradFor(gy: Tensor, other: Tensor, shape: readonly number[]): Tensor {
  const full = binaryKernel('mul', gy, other, 1);
  const g = sumToShape(full, shape);
  full.dispose(); // g holds its own reference when it is a view of full
  return g;
}
