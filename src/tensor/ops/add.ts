import elementwiseWgsl from '../../../shaders/elementwise.wgsl?raw';
import {
  broadcastShapes,
  broadcastStrides,
  coalesce,
  innermostFirst,
  offsetOf,
  planAffine,
  splitPoint,
  stridesOf,
  touched,
  window,
  windowBytes,
} from '../broadcast.ts';
import { numelOf, type DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';

const WG = 64;

/**
 * y = alpha * a + beta * b ('add') or alpha * a * b ('mul') with numpy broadcasting, f32 output. Not
 * recorded: add, addScaled and mul record, and the backward passes call this directly.
 */
export function binaryKernel(op: 'add' | 'mul', a: Tensor, b: Tensor, alpha: number, beta = 0): Tensor {
  const rt = a.rt;
  const shape = broadcastShapes(a.shape, b.shape);
  const y = Tensor.empty(rt, shape, 'f32', 'activations', op);
  const { shape: dims, strides } = coalesce(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape), stridesOf(shape)]);
  const [sa, sb, sy] = strides;
  const operands = [a, b, y].map((t, k) => ({ dtype: t.dtype, stride: strides[k], offset: 0 }));
  const spec = { source: specialize(elementwiseWgsl, { a: a.dtype, b: b.dtype, src: 'f32' }), entryPoint: op, constants: { WG }, label: op };
  for (const c of planAffine(dims, operands, rt.limits.maxStorageBufferBindingSize)) {
    const [wa, wb, wy] = [a, b, y].map((t, k) => window(t, ...c.ranges[k]));
    const u = params([
      ['u32', c.count],
      ['u32', c.start],
      ['u32', dims.length],
      ['f32', alpha],
      ['f32', beta],
      ['u32', offsetOf(wa)],
      ['u32', offsetOf(wb)],
      ['u32', offsetOf(wy)],
      ...innermostFirst(dims, 1),
      ...innermostFirst(sa, 0),
      ...innermostFirst(sb, 0),
      ...innermostFirst(sy, 0),
    ]);
    rt.dispatch(spec, [wa.binding, wb.binding, wy.binding], u, Math.ceil(c.count / WG));
  }
  return y;
}

/** a + b with numpy broadcasting (e.g. [N, C, H, W] + [N, C, 1, 1]). */
export function add(a: Tensor, b: Tensor, dtype: DType = a.dtype): Tensor {
  return addScaled(a, b, 1, dtype);
}

/** a + alpha * b with broadcasting; backward sums the gradient over each input's broadcast dims. */
export function addScaled(a: Tensor, b: Tensor, alpha: number, dtype: DType = a.dtype): Tensor {
  const y = binaryKernel('add', a, b, 1, alpha);
  record('add', [a, b], [y], [], ([gy]) => [
    gy && a.requiresGrad ? sumToShape(gy, a.shape) : null,
    gy && b.requiresGrad ? sumToShape(gy, b.shape, alpha) : null,
  ]);
  return asDtype(y, dtype);
}

/**
 * scale * g summed over the dims where `shape` is 1 (or missing) and g's is not: the gradient of a
 * broadcast input. f32 output; an alias of g when there is nothing to do.
 */
export function sumToShape(g: Tensor, shape: readonly number[], scale = 1): Tensor {
  const rt = g.rt;
  const rank = g.shape.length;
  if (shape.length > rank) throw new RangeError(`cannot sum [${g.shape}] to [${shape}]`);
  const target = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const own = stridesOf(g.shape);
  const kept = { shape: [] as number[], stride: [] as number[] };
  const reduced = { shape: [] as number[], stride: [] as number[] };
  g.shape.forEach((n, d) => {
    if (target[d] === n) (kept.shape.push(n), kept.stride.push(own[d]));
    else if (target[d] === 1) (reduced.shape.push(n), reduced.stride.push(own[d]));
    else throw new RangeError(`cannot sum [${g.shape}] to [${shape}]`);
  });
  if (scale === 1 && g.dtype === 'f32' && numelOf(reduced.shape) === 1) return g.alias(shape);

  const out = Tensor.empty(rt, shape, 'f32', 'activations', 'sum to shape');
  const k = coalesce(kept.shape, [kept.stride, stridesOf(kept.shape)]);
  const r = coalesce(reduced.shape, [reduced.stride]);
  const [kShape, kStride, rShape, rStride] = [k.shape, k.strides[0], r.shape, r.strides[0]];
  const limit = rt.limits.maxStorageBufferBindingSize;
  const source = specialize(elementwiseWgsl, { a: 'f32', b: 'f32', src: g.dtype });

  // Tasks cover (outputs [j0, j1)) x (reduced [r0, r1)); a task whose src window is too large is split on
  // the side whose split dim is outer in memory. Later reduced ranges accumulate into earlier ones.
  const visit = (j0: number, j1: number, r0: number, r1: number) => {
    const [klo, khi] = touched(kShape, kStride, j0, j1);
    const [rlo, rhi] = touched(rShape, rStride, r0, r1);
    const dstFits = windowBytes('f32', j0, j1 - 1) <= limit;
    if (dstFits && windowBytes(g.dtype, klo + rlo, khi + rhi) <= limit) {
      dispatchSum(j0, j1, r0, r1, klo + rlo, khi + rhi);
      return;
    }
    const ks = j1 - j0 > 1 ? splitPoint(kShape, j0, j1) : null;
    const rs = r1 - r0 > 1 ? splitPoint(rShape, r0, r1) : null;
    if (ks && (!dstFits || !rs || kStride[ks.dim] >= rStride[rs.dim])) {
      visit(j0, ks.at, r0, r1);
      visit(ks.at, j1, r0, r1);
    } else if (rs) {
      visit(j0, j1, r0, rs.at);
      visit(j0, j1, rs.at, r1);
    } else throw new RangeError(`sumToShape: one element of [${g.shape}] does not fit a binding`);
  };
  const dispatchSum = (j0: number, j1: number, r0: number, r1: number, lo: number, hi: number) => {
    const ws = window(g, lo, hi);
    const wd = window(out, j0, j1 - 1);
    const count = r1 - r0;
    const perThread = count <= 64;
    const u = params([
      ['u32', j1 - j0],
      ['u32', j0],
      ['u32', r0],
      ['u32', count],
      ['u32', offsetOf(ws)],
      ['u32', offsetOf(wd, j0)],
      ['u32', kShape.length],
      ['u32', rShape.length],
      ['u32', r0 > 0 ? 1 : 0],
      ['f32', scale],
      ['u32', 0],
      ['u32', 0],
      ...innermostFirst(kShape, 1),
      ...innermostFirst(kStride, 0),
      ...innermostFirst(rShape, 1),
      ...innermostFirst(rStride, 0),
    ]);
    const wg = perThread ? WG : count >= 16384 ? 256 : WG;
    const spec = { source, entryPoint: perThread ? 'sum_thread' : 'sum_group', constants: { WG: wg }, label: 'sum to shape' };
    rt.dispatch(spec, [ws.binding, wd.binding], u, perThread ? Math.ceil((j1 - j0) / WG) : j1 - j0);
  };
  visit(0, numelOf(kShape), 0, numelOf(rShape));
  return out;
}
