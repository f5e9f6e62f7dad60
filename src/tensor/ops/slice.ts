import elementwiseWgsl from '../../../shaders/elementwise.wgsl?raw';
import { coalesce, innermostFirst, offsetOf, planAffine, stridesOf, window } from '../broadcast.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';
import { full } from './fill.ts';

const WG = 64;

/** A strided view: element at coordinates c is at offset + sum(c * stride). */
export interface Strided {
  t: Tensor;
  stride: readonly number[];
  offset: number;
}

/** dst[view] = src[view] over `shape` (dst f32). Not recorded: slice and concat build on it. */
export function stridedCopy(shape: readonly number[], src: Strided, dst: Strided): void {
  if (dst.t.dtype !== 'f32') throw new Error('stridedCopy writes f32');
  const rt = src.t.rt;
  const { shape: dims, strides } = coalesce(shape, [src.stride, dst.stride]);
  const operands = [src, dst].map((v, k) => ({ dtype: v.t.dtype, stride: strides[k], offset: v.offset }));
  const spec = { source: specialize(elementwiseWgsl, { a: 'f32', b: 'f32', src: src.t.dtype }), entryPoint: 'copy', constants: { WG }, label: 'copy' };
  for (const c of planAffine(dims, operands, rt.limits.maxStorageBufferBindingSize)) {
    const ws = window(src.t, ...c.ranges[0]);
    const wd = window(dst.t, ...c.ranges[1]);
    const u = params([
      ['u32', c.count],
      ['u32', c.start],
      ['u32', dims.length],
      ['f32', 0],
      ['f32', 0],
      ['u32', offsetOf(ws, src.offset)],
      ['u32', 0],
      ['u32', offsetOf(wd, dst.offset)],
      ...innermostFirst(dims, 1),
      ...innermostFirst(strides[0], 0),
      ...innermostFirst([], 0),
      ...innermostFirst(strides[1], 0),
    ]);
    rt.dispatch(spec, [ws.binding, wd.binding], u, Math.ceil(c.count / WG));
  }
}

export const normDim = (dim: number, rank: number): number => {
  const d = dim < 0 ? dim + rank : dim;
  if (!(d >= 0 && d < rank)) throw new RangeError(`dim ${dim} out of range for rank ${rank}`);
  return d;
};

/** x.narrow(dim, start, end - start), copied out. Backward: the gradient written into zeros of x's shape. */
export function slice(x: Tensor, dim: number, start: number, end: number, dtype: DType = x.dtype): Tensor {
  const d = normDim(dim, x.shape.length);
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= x.shape[d])) {
    throw new RangeError(`slice [${start}, ${end}) of dim ${d} of [${x.shape}]`);
  }
  const shape = x.shape.map((n, k) => (k === d ? end - start : n));
  const stride = stridesOf(x.shape);
  const y = Tensor.empty(x.rt, shape, 'f32', 'activations', 'slice');
  stridedCopy(shape, { t: x, stride, offset: start * stride[d] }, { t: y, stride: stridesOf(shape), offset: 0 });
  record('slice', [x], [y], [], ([gy]) => {
    if (!gy) return [null];
    const gx = full(gy.rt, x.shape, 0, 'activations', 'slice grad');
    stridedCopy(shape, { t: gy, stride: stridesOf(shape), offset: 0 }, { t: gx, stride, offset: start * stride[d] });
    return [gx];
  });
  return asDtype(y, dtype);
}
