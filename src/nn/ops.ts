/**
 * The ops the models use, under one roof: model code imports from here, so an op's landed name or
 * argument order is adapted in one place.
 */
import { record } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';

import { conv2d as conv2dOp, type Padding2d } from '../tensor/ops/conv2d.ts';

export { cast } from '../tensor/ops/cast.ts';
export { linear } from '../tensor/ops/linear.ts';
export { matmul } from '../tensor/ops/matmul.ts';
export { mseLoss } from '../tensor/ops/mse-loss.ts';

export type Padding = Padding2d;

/** conv2d with the stride checked here (the op takes 1 or 2). */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, opts: { stride: number; padding: Padding }): Tensor {
  if (opts.stride !== 1 && opts.stride !== 2) throw new Error(`conv2d: stride ${opts.stride} (1 or 2 only)`);
  return conv2dOp(x, weight, bias, { stride: opts.stride, padding: opts.padding });
}

// TEMPORARY (until these ops land in src/tensor/ops/): stubs with the briefed signatures, so that models can be
// built, counted and materialized (meta device included) before their forward can run.
const notLanded = (op: string): never => {
  throw new Error(`op ${op} has not landed in src/tensor/ops/ yet`);
};
export const groupNorm = (_x: Tensor, _w: Tensor, _b: Tensor, _o: { groups: number; eps: number; framesPerSample?: number }): Tensor =>
  notLanded('groupNorm');
export const layerNorm = (_x: Tensor, _w: Tensor | null, _b: Tensor | null, _eps: number): Tensor => notLanded('layerNorm');
export const silu = (_x: Tensor): Tensor => notLanded('silu');
export const geglu = (_x: Tensor): Tensor => notLanded('geglu');
export const add = (_a: Tensor, _b: Tensor): Tensor => notLanded('add');
export const concat = (_xs: Tensor[], _dim: number): Tensor => notLanded('concat');
export const slice = (_x: Tensor, _dim: number, _start: number, _end: number): Tensor => notLanded('slice');
export const upsampleNearest2x = (_x: Tensor): Tensor => notLanded('upsampleNearest2x');
export const timestepEmbedding = (_t: Tensor, _dim: number, _o: { flipSinToCos: boolean; downscaleFreqShift: number }): Tensor =>
  notLanded('timestepEmbedding');
export const attention = (_q: Tensor, _k: Tensor, _v: Tensor, _heads: number, _o?: { scale?: number }): Tensor => notLanded('attention');
export const mul = (_a: Tensor, _b: Tensor): Tensor => notLanded('mul');
export const scale = (_x: Tensor, _s: number): Tensor => notLanded('scale');
// Not in the ops brief; the VAE's diagonal Gaussian needs them (requested from the op engineers).
export const exp = (_x: Tensor): Tensor => notLanded('exp');
export const clamp = (_x: Tensor, _lo: number, _hi: number): Tensor => notLanded('clamp');

/**
 * TEMPORARY (until the core has a recorded view): a reshape that autograd sees. Tensor.alias() makes a new
 * handle the tape knows nothing about, so a gradient reaching the view would never reach its source.
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const y = x.alias(shape);
  record('reshape', [x], [y], [], ([g]) => [g ? g.alias(x.shape) : null]);
  return y;
}
