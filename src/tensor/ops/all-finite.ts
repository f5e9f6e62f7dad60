import optimizerWgsl from '../../../shaders/optimizer.wgsl?raw';
import type { GpuRuntime } from '../../gpu/runtime.ts';
import { chunkBinding, elementChunks } from '../chunks.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { full } from './fill.ts';
import { reduceTiles } from './reduce.ts';

/** optimizer.wgsl; its only specialized input (AdamW's gradient) is not used by these kernels. */
export const optimizerSource = (g: 'f32' | 'f16' = 'f32') => specialize(optimizerWgsl, { g });

/**
 * A [1] f32 flag: 1 when every value of every tensor is finite, else 0 (for dynamic loss scaling: skip the
 * step and lower the scale). Computed on the GPU, bit-exact inspection of f32 or packed f16 storage; nothing
 * is read back. Not recorded (it has no gradient).
 */
export function allFinite(tensors: Tensor[], rt: GpuRuntime = tensors[0].rt): Tensor {
  const flag = full(rt, [1], 1, 'activations', 'all finite');
  const { wg } = reduceTiles(rt.limits);
  const source = optimizerSource();
  for (const t of tensors) {
    for (const c of elementChunks(t.numel, rt.limits.maxStorageBufferBindingSize)) {
      const f16 = t.dtype === 'f16';
      const threads = f16 ? Math.ceil(c.count / 2) : c.count;
      rt.dispatch(
        { source, entryPoint: f16 ? 'finite_f16' : 'finite_f32', constants: { WG: wg }, label: 'all-finite' },
        [chunkBinding(t, c), flag.buffer],
        params([['u32', c.count]]),
        Math.ceil(threads / wg),
      );
    }
  }
  return flag;
}
