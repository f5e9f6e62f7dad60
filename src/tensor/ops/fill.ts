import accumulateWgsl from '../../../shaders/accumulate.wgsl?raw';
import fillWgsl from '../../../shaders/fill.wgsl?raw';
import type { Category } from '../../gpu/memory/categories.ts';
import { chunkBinding, elementChunks } from '../chunks.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import type { GpuRuntime } from '../../gpu/runtime.ts';

const WG = 64;

/** Sets every element of an f32 tensor to `value` (not recorded: it has no inputs to differentiate). */
export function fillInPlace(t: Tensor, value: number): Tensor {
  return inPlace(t, 'main', value);
}

/** t *= s for an f32 tensor, in place (unscaling gradients keeps their buffers and their category). */
export function scaleInPlace(t: Tensor, s: number): Tensor {
  return inPlace(t, 'scale_in_place', s);
}

function inPlace(t: Tensor, entryPoint: string, value: number): Tensor {
  if (t.dtype !== 'f32') throw new Error(`${entryPoint} needs f32 storage`);
  for (const c of elementChunks(t.numel, t.rt.limits.maxStorageBufferBindingSize)) {
    t.rt.dispatch({ source: fillWgsl, entryPoint, label: entryPoint }, [chunkBinding(t, c)], params([['u32', c.count], ['f32', value]]), Math.ceil(c.count / WG));
  }
  return t;
}

export function full(rt: GpuRuntime, shape: readonly number[], value: number, category: Category = 'activations', label = 'full'): Tensor {
  return fillInPlace(Tensor.empty(rt, shape, 'f32', category, label), value);
}

/** dst += src, elementwise (gradient accumulation). Not recorded. */
export function accumulateInto(dst: Tensor, src: Tensor): void {
  if (dst.dtype !== 'f32' || dst.numel !== src.numel) throw new Error(`accumulateInto: [${dst.shape}] ${dst.dtype} += [${src.shape}] ${src.dtype}`);
  const source = specialize(accumulateWgsl, { src: src.dtype });
  for (const c of elementChunks(dst.numel, dst.rt.limits.maxStorageBufferBindingSize)) {
    dst.rt.dispatch({ source, label: 'accumulate' }, [chunkBinding(src, c), chunkBinding(dst, c)], params([['u32', c.count]]), Math.ceil(c.count / WG));
  }
}
