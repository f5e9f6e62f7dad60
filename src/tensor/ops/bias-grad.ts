import biasGradWgsl from '../../../shaders/conv2d-bias-grad.wgsl?raw';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { itemsPerChunk, rangeBinding } from './linalg-ranges.ts';

const WG = 64;

/**
 * The gradient of a bias broadcast over a [outer, C, inner] output: sum of gy over outer and inner, per
 * channel, as f32 [C]. Split over `outer` when gy passes maxStorageBufferBindingSize (later parts accumulate).
 */
export function biasGrad(gy: Tensor, outer: number, C: number, inner: number): Tensor {
  const rt = gy.rt;
  const out = Tensor.empty(rt, [C], 'f32', 'activations', 'bias grad');
  const limit = rt.limits.maxStorageBufferBindingSize;
  const per = itemsPerChunk(outer, [[gy, C * inner]], limit);
  if (per === 0) throw new RangeError(`biasGrad: one [${C}x${inner}] slice of ${gy} does not fit a binding`);
  const source = specialize(biasGradWgsl, { src: gy.dtype });
  for (let o0 = 0; o0 < outer; o0 += per) {
    const n = Math.min(per, outer - o0);
    const r = rangeBinding(gy, o0 * C * inner, n * C * inner, limit);
    const u = params([['u32', C], ['u32', n], ['u32', inner], ['u32', r.base], ['u32', o0 > 0 ? 1 : 0]]);
    rt.dispatch({ source, label: 'bias-grad', constants: { WG } }, [r.binding, out.buffer], u, C);
  }
  return out;
}
