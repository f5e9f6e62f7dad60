import { accumulateInto, fillInPlace, full } from './ops/fill.ts';
import { keep, scope } from './scope.ts';
import { Tensor } from './tensor.ts';

/**
 * Reverse-mode autograd on a tape. Ops call record() with the tensors their backward needs; the tape holds
 * its own handles on those and lets go of each as soon as its backward has run, so activation memory falls
 * during backward. Gradients of leaves (parameters) accumulate into `leaf.grad` across backward() calls
 * until zeroGrad(): that is gradient accumulation over micro-batches.
 */
export type BackwardFn = (gradOutputs: (Tensor | null)[], saved: Tensor[]) => (Tensor | null | undefined)[];

interface TapeNode {
  name: string;
  inputs: (Tensor | null | undefined)[];
  outputs: Tensor[];
  saved: Tensor[];
  backward: BackwardFn;
}

const tapes: TapeNode[][] = [[]];
let gradEnabled = true;

const activeTape = () => tapes[tapes.length - 1];

/** Records an op when any input requires grad (or always, with `force`: checkpoint's params live inside fn). */
export function record(
  name: string,
  inputs: (Tensor | null | undefined)[],
  outputs: Tensor[],
  saved: Tensor[],
  backward: BackwardFn,
  force = false,
): void {
  if (!gradEnabled || (!force && !inputs.some((t) => t?.requiresGrad))) return;
  for (const o of outputs) {
    o.requiresGrad = true;
    o.isLeaf = false;
  }
  activeTape().push({ name, inputs, outputs, saved: saved.map((s) => keep(s.alias())), backward });
}

export function isRecording(): boolean {
  return gradEnabled;
}

/** Runs fn without recording (inference, the forward half of a checkpoint, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Back-propagates from `loss` (seeded with ones, or `seed`) through everything recorded, emptying the tape. */
export function backward(loss: Tensor, seed?: Tensor): void {
  runBackward(activeTape(), loss, seed ?? full(loss.rt, loss.shape, 1, 'activations', 'grad seed'), new Set());
}

/**
 * Gradient checkpointing: runs fn without keeping its activations; backward runs fn again on a sub-tape
 * and back-propagates through it. Gradients equal the unchecked run's; activation memory is one block's.
 */
export function checkpoint(fn: (...xs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor {
  if (!gradEnabled) return fn(...inputs);
  const out = noGrad(() => scope(() => fn(...inputs)));
  const wanted = inputs.map((t) => t.requiresGrad);
  record(
    'checkpoint',
    inputs,
    [out],
    inputs,
    ([gOut], saved) => {
      if (!gOut) return [];
      const detached = saved.map((s, i) => {
        const d = s.alias();
        d.requiresGrad = wanted[i];
        return d;
      });
      tapes.push([]);
      try {
        const again = fn(...detached);
        const captured = runBackward(activeTape(), again, gOut, new Set(detached.filter((d) => d.requiresGrad)));
        return detached.map((d) => captured.get(d) ?? null);
      } finally {
        tapes.pop();
      }
    },
    true,
  );
  return out;
}

/** Sets accumulated gradients to zero (keeping their buffers), or frees them with `free`. */
export function zeroGrad(params: Iterable<Tensor>, free = false): void {
  for (const p of params) {
    if (!p.grad) continue;
    if (free) {
      p.grad.dispose();
      p.grad = null;
    } else fillInPlace(p.grad, 0);
  }
}

function runBackward(tape: TapeNode[], loss: Tensor, seed: Tensor, capture: Set<Tensor>): Map<Tensor, Tensor> {
  const grads = new Map<Tensor, Tensor>([[loss, keep(seed)]]);
  const captured = new Map<Tensor, Tensor>();
  while (tape.length) {
    const node = tape.pop()!;
    const gOuts = node.outputs.map((o) => take(grads, o));
    if (gOuts.some((g) => g)) {
      const gIns = scope(() => node.backward(gOuts, node.saved));
      node.inputs.forEach((input, i) => {
        const g = gIns[i];
        if (!g) return;
        if (!input?.requiresGrad) g.dispose();
        else if (capture.has(input)) addGrad(captured, input, g);
        else if (input.isLeaf) {
          input.grad ??= keep(full(g.rt, input.shape, 0, 'grads', 'grad'));
          accumulateInto(input.grad, g);
          g.dispose();
        } else addGrad(grads, input, g);
      });
    }
    for (const g of gOuts) g?.dispose();
    for (const s of node.saved) s.dispose();
  }
  for (const g of grads.values()) g.dispose();
  return captured;
}

function take(grads: Map<Tensor, Tensor>, t: Tensor): Tensor | null {
  const g = grads.get(t) ?? null;
  grads.delete(t);
  return g;
}

/** Sums a second gradient into the first; copies first when its storage is shared (backward of add aliases). */
function addGrad(grads: Map<Tensor, Tensor>, t: Tensor, g: Tensor): void {
  const prev = grads.get(t);
  if (!prev) {
    grads.set(t, keep(g));
    return;
  }
  let sum = prev;
  if (prev.storage.refs > 1 || prev.dtype !== 'f32') {
    sum = keep(full(g.rt, prev.shape, 0, 'activations', 'grad sum'));
    accumulateInto(sum, prev);
    prev.dispose();
    grads.set(t, sum);
  }
  accumulateInto(sum, g);
  g.dispose();
}
