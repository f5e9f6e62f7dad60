import type { Tensor } from '../../tensor/tensor.ts';

/**
 * Applies steps in turn, releasing each intermediate handle as soon as the next step has consumed it, so a
 * block holds one or two activations at a time instead of all of them until it returns (the tape keeps
 * its own handle on whatever backward needs). The input itself is left to its owner.
 */
export function chain(x: Tensor, ...steps: ((t: Tensor) => Tensor)[]): Tensor {
  let h = x;
  for (const step of steps) {
    const next = step(h);
    if (h !== x && h !== next) h.dispose();
    h = next;
  }
  return h;
}
