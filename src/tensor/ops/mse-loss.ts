import { chunkBinding, elementChunks } from '../chunks.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params } from '../wgsl.ts';
import { asDtype } from './cast.ts';
import { reduceFlatInto, reduceSource, reduceTiles } from './reduce.ts';

/**
 * mean((a - b)^2) over every element -> [1] (torch.nn.functional.mse_loss, reduction 'mean'). The squared
 * differences are never materialized: the first reduction pass squares as it reads.
 */
export function mseLoss(a: Tensor, b: Tensor): Tensor {
  if (a.numel !== b.numel) throw new RangeError(`mseLoss: [${a.shape}] vs [${b.shape}]`);
  const rt = a.rt;
  const n = a.numel;
  const y32 = Tensor.empty(rt, [1], 'f32', 'activations', 'mse loss');
  reduceFlatInto(rt, [{ kind: 'sqdiff', a, b }], y32, 1 / n);
  const y = asDtype(y32, a.dtype);
  record('mseLoss', [a, b], [y], [a, b], ([gy], [sa, sb]) => {
    if (!gy) return [null, null];
    const [ga, gb] = mseGrads(sa, sb, gy);
    return [ga, gb];
  });
  return y;
}

/** ga = 2 / n * gy * (a - b), gb = -ga (f32). */
function mseGrads(a: Tensor, b: Tensor, gy: Tensor): [Tensor, Tensor] {
  const rt = a.rt;
  const ga = Tensor.empty(rt, a.shape, 'f32', 'activations', 'mse grad a');
  const gb = Tensor.empty(rt, b.shape, 'f32', 'activations', 'mse grad b');
  const { wg } = reduceTiles(rt.limits);
  const source = reduceSource({ a: a.dtype, b: b.dtype, gy: gy.dtype });
  for (const c of elementChunks(a.numel, rt.limits.maxStorageBufferBindingSize)) {
    const u = params([['u32', c.count], ['u32', c.start], ['u32', 1], ['f32', 2 / a.numel], ['u32', 0], ['u32', 0]]);
    rt.dispatch(
      { source, entryPoint: 'sqdiff_grad', constants: { WG: wg }, label: 'mse-grad' },
      [chunkBinding(a, c), chunkBinding(b, c), gy.buffer, chunkBinding(ga, c), chunkBinding(gb, c)],
      u,
      Math.ceil(c.count / wg),
    );
  }
  return [ga, gb];
}
