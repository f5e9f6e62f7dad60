/**
 * The ops the models use, under one roof: model code imports from here, so an op's landed name or
 * argument order is adapted in one place.
 */
import { conv2d as conv2dOp, type Padding2d } from '../tensor/ops/conv2d.ts';
import { record } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';

export { add } from '../tensor/ops/add.ts';
export { attention } from '../tensor/ops/attention.ts';
export { cast } from '../tensor/ops/cast.ts';
export { concat } from '../tensor/ops/concat.ts';
export { geglu } from '../tensor/ops/geglu.ts';
export { groupNorm } from '../tensor/ops/group-norm.ts';
export { layerNorm } from '../tensor/ops/layer-norm.ts';
export { linear } from '../tensor/ops/linear.ts';
export { matmul } from '../tensor/ops/matmul.ts';
export { mseLoss } from '../tensor/ops/mse-loss.ts';
export { mul } from '../tensor/ops/mul.ts';
export { scale } from '../tensor/ops/scale.ts';
export { silu } from '../tensor/ops/silu.ts';
export { slice } from '../tensor/ops/slice.ts';
export { timestepEmbedding } from '../tensor/ops/timestep-embedding.ts';
export { upsampleNearest2x } from '../tensor/ops/upsample.ts';

export type Padding = Padding2d;

/** conv2d with the stride checked here (the op takes 1 or 2). */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, opts: { stride: number; padding: Padding }): Tensor {
  if (opts.stride !== 1 && opts.stride !== 2) throw new Error(`conv2d: stride ${opts.stride} (1 or 2 only)`);
  return conv2dOp(x, weight, bias, { stride: opts.stride, padding: opts.padding });
}

export { reshape } from '../tensor/ops/reshape.ts';

// TEMPORARY: not in the ops brief (requested from the op engineers); the VAE's diagonal Gaussian needs them.
export { clamp } from '../tensor/ops/clamp.ts';
export { exp } from '../tensor/ops/exp.ts';
