import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';

/** A view with another shape (same elements, no copy) that autograd sees: the gradient is viewed back. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const y = x.alias(shape);
  record('reshape', [x], [y], [], ([g]) => [g ? g.alias(x.shape) : null]);
  return y;
}
