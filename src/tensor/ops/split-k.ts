import sumSlicesWgsl from '../../../shaders/matmul-sum-slices.wgsl?raw';
import type { GpuRuntime } from '../../gpu/runtime.ts';
import { Tensor } from '../tensor.ts';
import { params } from '../wgsl.ts';
import { RANGE_SLACK, wholeBinding, type RangeBinding } from './linalg-ranges.ts';

/**
 * Split-K for GEMMs with few output tiles and a deep contraction (weight gradients: dweight of a linear layer
 * over 65536 rows is a handful of tiles): the depth is cut into slices that run as separate workgroups,
 * each writing a partial product into a workspace, then summed. Tunable, like the tile shapes.
 */
export const splitK = {
  /** Split until about this many workgroups run (enough to fill a large GPU). */
  targetWorkgroups: 256,
  /** No slice shallower than this (the partial sums cost a pass over the output each). */
  minSliceDepth: 1024,
};

export interface SplitPlan {
  slices: number;
  /** Depth of each slice (a multiple of the kernel's TK), the last one shorter. */
  sliceDepth: number;
}

/** How to split a GEMM of `tiles` workgroups, `depth` deep, with `outElems` outputs; null = do not split. */
export function planSplit(rt: GpuRuntime, tiles: number, depth: number, outElems: number, TK: number): SplitPlan | null {
  const bySize = Math.floor((rt.limits.maxStorageBufferBindingSize - RANGE_SLACK) / (outElems * 4));
  const wanted = Math.min(Math.ceil(splitK.targetWorkgroups / tiles), Math.floor(depth / splitK.minSliceDepth), bySize, rt.limits.maxComputeWorkgroupsPerDimension);
  if (!(wanted >= 2)) return null;
  const sliceDepth = Math.ceil(depth / wanted / TK) * TK;
  const slices = Math.ceil(depth / sliceDepth);
  return slices >= 2 ? { slices, sliceDepth } : null;
}

/** A workspace for the partial products, from the ledger (category 'workspace'); free it right after use. */
export const splitWorkspace = (rt: GpuRuntime, plan: SplitPlan, outElems: number, label: string): Tensor =>
  Tensor.empty(rt, [plan.slices * outElems], 'f32', 'workspace', `${label} split-k`);

/** out[range] (+)= sum of the workspace's slices. */
export function sumSlices(rt: GpuRuntime, ws: Tensor, slices: number, outElems: number, out: RangeBinding, accumulate: boolean): void {
  const WG = 64;
  const u = params([['u32', outElems], ['u32', slices], ['u32', out.base], ['u32', accumulate ? 1 : 0]]);
  rt.dispatch({ source: sumSlicesWgsl, label: 'matmul-sum-slices', constants: { WG } }, [wholeBinding(ws, rt.limits.maxStorageBufferBindingSize).binding, out.binding], u, Math.ceil(outElems / WG));
}
