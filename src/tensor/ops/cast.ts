import castWgsl from '../../../shaders/cast.wgsl?raw';
import type { Category } from '../../gpu/memory/categories.ts';
import { chunkBinding, elementChunks } from '../chunks.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';

const WG = 64;

/** Converts storage dtype (f32 <-> packed f16). The gradient flows back through the opposite cast. */
export function cast(x: Tensor, dtype: DType, category: Category = 'activations'): Tensor {
  if (x.dtype === dtype) return x.alias();
  const y = Tensor.empty(x.rt, x.shape, dtype, category, `cast ${x.dtype}->${dtype}`);
  const entryPoint = dtype === 'f16' ? 'pack' : 'unpack';
  const source = specialize(castWgsl, { src: x.dtype });
  for (const c of elementChunks(x.numel, x.rt.limits.maxStorageBufferBindingSize)) {
    const threads = dtype === 'f16' ? Math.ceil(c.count / 2) : c.count;
    x.rt.dispatch({ source, entryPoint, label: `cast-${entryPoint}` }, [chunkBinding(x, c), chunkBinding(y, c)], params([['u32', c.count]]), Math.ceil(threads / WG));
  }
  record('cast', [x], [y], [], ([gy]) => [gy ? cast(gy, 'f32') : null]);
  return y;
}

/** The op's output in the dtype the caller asked for: kernels write f32, and f16 outputs are packed after. */
export function asDtype(y32: Tensor, dtype: DType): Tensor {
  if (dtype === 'f32') return y32;
  const y = cast(y32, dtype);
  y32.dispose();
  return y;
}
