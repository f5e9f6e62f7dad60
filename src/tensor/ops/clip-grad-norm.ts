import type { GpuRuntime } from '../../gpu/runtime.ts';
import { chunkBinding, elementChunks } from '../chunks.ts';
import { Tensor } from '../tensor.ts';
import { params } from '../wgsl.ts';
import { optimizerSource } from './all-finite.ts';
import { full } from './fill.ts';
import { reduceFlatInto, reduceTiles } from './reduce.ts';

/**
 * torch.nn.utils.clip_grad_norm_ (L2): the global norm of all `grads` together, then every grad scaled in
 * place by min(1, maxNorm / (norm + 1e-6)). All on the GPU, deterministic (tree sums of squares over every
 * tensor into one shared set of partials), no readback. Returns the norm before clipping, [1] f32, for logging.
 * Gradients are f32 (they are scaled in place). maxNorm = Infinity only measures. Not recorded.
 */
export function clipGradNorm(grads: Tensor[], maxNorm: number, rt: GpuRuntime = grads[0]?.rt): Tensor {
  if (!grads.length) {
    if (!rt) throw new Error('clipGradNorm: no gradients and no runtime');
    return full(rt, [1], 0, 'activations', 'grad norm');
  }
  for (const g of grads) if (g.dtype !== 'f32') throw new Error(`clipGradNorm: gradients must be f32 (got ${g.dtype} [${g.shape}])`);
  const sumsq = Tensor.empty(rt, [1], 'f32', 'workspace', 'grad norm sumsq');
  reduceFlatInto(rt, grads.map((x) => ({ kind: 'sq' as const, x })), sumsq);
  const norm = Tensor.empty(rt, [1], 'f32', 'activations', 'grad norm');
  const coef = Tensor.empty(rt, [1], 'f32', 'workspace', 'grad clip coef');
  const source = optimizerSource();
  const { wg } = reduceTiles(rt.limits);
  const u = params([['u32', 1], ['f32', Number.isFinite(maxNorm) ? maxNorm : 0]]);
  rt.dispatch({ source, entryPoint: 'clip_coef', constants: { WG: wg }, label: 'clip-coef' }, [sumsq.buffer, norm.buffer, coef.buffer], u, 1);
  // An infinite maxNorm only measures (and keeps infinities out of the uniforms).
  for (const g of Number.isFinite(maxNorm) ? grads : []) {
    for (const c of elementChunks(g.numel, rt.limits.maxStorageBufferBindingSize)) {
      rt.dispatch(
        { source, entryPoint: 'scale_in_place', constants: { WG: wg }, label: 'clip-scale' },
        [coef.buffer, chunkBinding(g, c)],
        params([['u32', c.count], ['f32', maxNorm]]),
        Math.ceil(c.count / wg),
      );
    }
  }
  sumsq.dispose();
  coef.dispose();
  return norm;
}
