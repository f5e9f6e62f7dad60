import type { Binding, GpuRuntime } from '../gpu/runtime.ts';
import { chunkBinding, elementChunks } from '../tensor/chunks.ts';
import { optimizerSource } from '../tensor/ops/all-finite.ts';
import { full } from '../tensor/ops/fill.ts';
import { reduceTiles } from '../tensor/ops/reduce.ts';
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { params } from '../tensor/wgsl.ts';

/**
 * AdamW in WGSL with torch.optim.AdamW semantics: decoupled weight decay (p *= 1 - lr * wd), then Adam with
 * bias correction. Parameters are f32 master weights updated in place; m and v are f32 tensors in the
 * ledger's 'optimizer' category.
 */
export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /**
   * The 1-based step for bias correction, as torch counts it. Omitted: the state's GPU step counter + 1 is
   * used (the right choice with `skipUnless`, since only the GPU knows which steps were skipped).
   */
  step?: number;
  /** A [1] f32 flag (allFinite's): where it is 0 nothing changes, the step counter included. GPU-side. */
  skipUnless?: Tensor;
}

export interface AdamWState {
  /** First and second moments, one per parameter, f32, category 'optimizer'. */
  m: Tensor[];
  v: Tensor[];
  /** [1] f32: the number of updates applied (skipped ones not counted), category 'optimizer'. */
  step: Tensor;
}

/** Zeroed moments for `params` (outside any scope: they live until disposeAdamWState). */
export function createAdamWState(rt: GpuRuntime, params: Tensor[]): AdamWState {
  const zeros = (p: Tensor, what: string) => keep(full(rt, p.shape, 0, 'optimizer', `adamw ${what}`));
  return {
    m: params.map((p) => zeros(p, 'exp_avg')),
    v: params.map((p) => zeros(p, 'exp_avg_sq')),
    step: keep(full(rt, [1], 0, 'optimizer', 'adamw step')),
  };
}

export function disposeAdamWState(state: AdamWState): void {
  for (const t of [...state.m, ...state.v, state.step]) t.dispose();
}

/** One AdamW update of every parameter, in place. Gradients may be f32 or f16. Nothing is read back. */
export function adamwStep(params_: Tensor[], grads: Tensor[], state: AdamWState, opts: AdamWOptions): void {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 1e-2, step, skipUnless } = opts;
  if (grads.length !== params_.length || state.m.length !== params_.length) throw new Error('adamwStep: params, grads and state differ in length');
  if (step !== undefined && !(step >= 1)) throw new RangeError(`adamwStep: step ${step} (steps count from 1)`);
  if (!params_.length) return;
  const rt = params_[0].rt;
  const { wg } = reduceTiles(rt.limits);
  const hostStep = step !== undefined;
  const u = params([
    ['u32', 0], // n, set per chunk below
    ['u32', skipUnless ? 1 : 0],
    ['u32', hostStep ? 0 : 1],
    ['u32', 0],
    ['f32', lr],
    ['f32', beta1],
    ['f32', beta2],
    ['f32', eps],
    ['f32', 1 - lr * weightDecay],
    ['f32', hostStep ? lr / (1 - beta1 ** step) : 0],
    ['f32', hostStep ? Math.sqrt(1 - beta2 ** step) : 0],
    ['f32', Math.log(beta1)],
    ['f32', Math.log(beta2)],
    ['f32', 1 - beta1],
    ['f32', 1 - beta2],
  ]);
  const setCount = (n: number) => {
    new DataView(u.buffer).setUint32(0, n, true);
    return u.slice();
  };
  // Without a flag the kernels never read it; bind 4 bytes of a read-only buffer in its place (not the step
  // counter, which adamw_count writes: a buffer may not be bound writable and read-only in one dispatch).
  const flag: Binding = skipUnless ? skipUnless.buffer : { buffer: grads[0].buffer, offset: 0, size: 4 };
  params_.forEach((p, i) => {
    const g = grads[i];
    if (p.dtype !== 'f32') throw new Error(`adamwStep: parameters must be f32 master weights (got ${p.dtype} [${p.shape}])`);
    if (g.numel !== p.numel || state.m[i].numel !== p.numel) throw new Error(`adamwStep: param [${p.shape}] vs grad [${g.shape}] / state [${state.m[i].shape}]`);
    const source = optimizerSource(g.dtype);
    for (const c of elementChunks(p.numel, rt.limits.maxStorageBufferBindingSize)) {
      rt.dispatch(
        { source, entryPoint: 'adamw', constants: { WG: wg }, label: 'adamw' },
        [chunkBinding(p, c), chunkBinding(g, c), chunkBinding(state.m[i], c), chunkBinding(state.v[i], c), flag, state.step.buffer],
        setCount(c.count),
        Math.ceil(c.count / wg),
      );
    }
  });
  rt.dispatch({ source: optimizerSource(), entryPoint: 'adamw_count', constants: { WG: wg }, label: 'adamw-count' }, [flag, state.step.buffer], setCount(0), 1);
}
