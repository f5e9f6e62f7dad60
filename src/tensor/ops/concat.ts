import { stridesOf } from '../broadcast.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { asDtype } from './cast.ts';
import { normDim, stridedCopy } from './slice.ts';

/** torch.cat(xs, dim). Backward: each input's part of the gradient, copied out. */
export function concat(xs: readonly Tensor[], dim: number, dtype: DType = xs[0].dtype): Tensor {
  if (xs.length === 0) throw new RangeError('concat of nothing');
  const rank = xs[0].shape.length;
  const d = normDim(dim, rank);
  for (const x of xs) {
    if (x.shape.length !== rank || x.shape.some((n, k) => k !== d && n !== xs[0].shape[k])) {
      throw new RangeError(`concat along dim ${d}: [${x.shape}] does not match [${xs[0].shape}]`);
    }
  }
  const shape = xs[0].shape.map((n, k) => (k === d ? xs.reduce((s, x) => s + x.shape[d], 0) : n));
  const stride = stridesOf(shape);
  const starts: number[] = [];
  xs.reduce((at, x) => (starts.push(at), at + x.shape[d]), 0);
  const y = Tensor.empty(xs[0].rt, shape, 'f32', 'activations', 'concat');
  xs.forEach((x, i) => stridedCopy(x.shape, { t: x, stride: stridesOf(x.shape), offset: 0 }, { t: y, stride, offset: starts[i] * stride[d] }));
  record('concat', [...xs], [y], [], ([gy]) =>
    xs.map((x, i) => {
      if (!gy || !x.requiresGrad) return null;
      const gx = Tensor.empty(gy.rt, x.shape, 'f32', 'activations', 'concat grad');
      stridedCopy(x.shape, { t: gy, stride, offset: starts[i] * stride[d] }, { t: gx, stride: stridesOf(x.shape), offset: 0 });
      return gx;
    }),
  );
  return asDtype(y, dtype);
}
