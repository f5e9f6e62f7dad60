import { checkpoint } from '../../tensor/tape.ts';
import type { Tensor } from '../../tensor/tensor.ts';

/**
 * Runs fn directly, or under gradient checkpointing (its activations are recomputed in backward instead of
 * kept). Null inputs (no audio context) are passed through outside the checkpoint's tensor list.
 */
export function maybeCheckpoint(on: boolean, fn: (...xs: (Tensor | null)[]) => Tensor, ...inputs: (Tensor | null)[]): Tensor {
  if (!on) return fn(...inputs);
  const present = inputs.filter((t): t is Tensor => t !== null);
  return checkpoint((...xs: Tensor[]) => {
    let k = 0;
    return fn(...inputs.map((t) => (t === null ? null : xs[k++])));
  }, ...present);
}
