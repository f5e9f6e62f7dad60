import backwardWgsl from '../../../shaders/exp-clamp-backward.wgsl?raw';
import forwardWgsl from '../../../shaders/exp-clamp.wgsl?raw';
import { chunkBinding, elementChunks } from '../chunks.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';

const WG = 64;
export const EXP = 1;
export const CLAMP = 0;

/** Runs exp or clamp (forward: [x]; backward: [x or y, g]) over flat chunks; writes f32. */
export function expClampKernel(inputs: Tensor[], mode: number, lo: number, hi: number, label: string): Tensor {
  const x = inputs[0];
  const backward = inputs.length === 2;
  const source = backward ? specialize(backwardWgsl, { x: x.dtype, g: inputs[1].dtype }) : specialize(forwardWgsl, { x: x.dtype });
  const y = Tensor.empty(x.rt, x.shape, 'f32', 'activations', label);
  for (const c of elementChunks(x.numel, x.rt.limits.maxStorageBufferBindingSize)) {
    const bindings = [...inputs.map((t) => chunkBinding(t, c)), chunkBinding(y, c)];
    x.rt.dispatch({ source, entryPoint: backward ? 'main' : 'forward', label }, bindings, params([['u32', c.count], ['u32', mode], ['f32', lo], ['f32', hi]]), Math.ceil(c.count / WG));
  }
  return y;
}
