import softmaxWgsl from '../../../shaders/softmax.wgsl?raw';
import type { GpuRuntime } from '../../gpu/runtime.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';
import { elementSlice, reduceTiles, rowChunks } from './reduce.ts';

/** Threads per row: about one per 8 elements, between 32 and the adapter's (power-of-two) cap. */
function rowThreads(rt: GpuRuntime, L: number): number {
  const cap = reduceTiles(rt.limits).wg;
  return Math.min(cap, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(L / 8)))));
}

/** softmax over the last dim. Saves its output for backward (gx = y * (gy - sum(gy * y))). */
export function softmax(x: Tensor): Tensor {
  const rt = x.rt;
  const L = x.shape[x.shape.length - 1];
  const rows = x.numel / L;
  const y32 = Tensor.empty(rt, x.shape, 'f32', 'activations', 'softmax');
  const source = specialize(softmaxWgsl, { x: x.dtype, ys: 'f32', gy: 'f32' });
  const constants = { WG: rowThreads(rt, L) };
  for (const c of rowChunks(rows, L, rt.limits.maxStorageBufferBindingSize)) {
    const xs = elementSlice(x, c.row0 * L, c.rows * L);
    const ys = elementSlice(y32, c.row0 * L, c.rows * L);
    const u = params([['u32', c.rows], ['u32', L], ['u32', xs.base], ['u32', ys.base]]);
    rt.dispatch({ source, entryPoint: 'forward', constants, label: 'softmax' }, [xs.binding, ys.binding], u, c.rows);
  }
  const y = asDtype(y32, x.dtype);
  record('softmax', [x], [y], [y], ([gy], [sy]) => [gy ? softmaxBackward(sy, gy) : null]);
  return y;
}

function softmaxBackward(y: Tensor, gy: Tensor): Tensor {
  const rt = y.rt;
  const L = y.shape[y.shape.length - 1];
  const rows = y.numel / L;
  const gx = Tensor.empty(rt, y.shape, 'f32', 'activations', 'softmax grad');
  const source = specialize(softmaxWgsl, { x: 'f32', ys: y.dtype, gy: gy.dtype });
  const constants = { WG: rowThreads(rt, L) };
  for (const c of rowChunks(rows, L, rt.limits.maxStorageBufferBindingSize)) {
    const [ys, gs, xs] = [y, gy, gx].map((t) => elementSlice(t, c.row0 * L, c.rows * L));
    const u = params([['u32', c.rows], ['u32', L], ['u32', ys.base], ['u32', gs.base], ['u32', xs.base]]);
    rt.dispatch({ source, entryPoint: 'backward', constants, label: 'softmax-backward' }, [ys.binding, gs.binding, xs.binding], u, c.rows);
  }
  return gx;
}
