import reduceWgsl from '../../../shaders/reduce.wgsl?raw';
import type { DeviceLimits } from '../../gpu/device.ts';
import type { Binding, GpuRuntime } from '../../gpu/runtime.ts';
import { chunkBinding } from '../chunks.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';
import { fillInPlace } from './fill.ts';

/**
 * sum and mean, over everything (-> [1]) or along the last dim, with backward; plus the reduction engine
 * that mse-loss, clip-grad-norm and softmax build on (flat multi-pass sums, aligned slices, row chunks).
 */

/** Binding offsets are multiples of 256 bytes: slices start at a multiple of 128 elements (f32 and f16). */
const ALIGN = 128;

export interface ReduceTiles {
  /** Threads per workgroup (a power of two: the tree halves it). */
  wg: number;
  /** Elements each thread sums before the tree; a flat block is wg * items elements. */
  items: number;
}

/** The largest power-of-two workgroup the adapter allows, up to 256. */
export function reduceTiles(limits: DeviceLimits): ReduceTiles {
  const cap = Math.min(256, limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  return { wg: 2 ** Math.floor(Math.log2(cap)), items: 8 };
}

type ReduceInput = 'x' | 'a' | 'b' | 'g' | 'gy';

/** reduce.wgsl with its inputs specialized (unnamed ones default to f32; unused loaders are never called). */
export function reduceSource(dtypes: Partial<Record<ReduceInput, DType>>): string {
  return specialize(reduceWgsl, { x: 'f32', a: 'f32', b: 'f32', g: 'f32', gy: 'f32', ...dtypes });
}

/** Elements [start, start + count) of t as a binding starting at an aligned offset, and where `start` lands in it. */
export function elementSlice(t: Tensor, start: number, count: number): { binding: Binding; base: number } {
  const aligned = Math.floor(start / ALIGN) * ALIGN;
  return { binding: chunkBinding(t, { start: aligned, count: start + count - aligned }), base: start - aligned };
}

/** Elements a slice may cover so that, with its alignment slack, the binding stays under the limit. */
export function sliceCapacity(maxBindingBytes: number): number {
  return Math.max(ALIGN, Math.floor(maxBindingBytes / 4) - ALIGN);
}

/**
 * Splits `rows` rows of `rowLen` elements into runs of whole rows that fit one binding each (see elementSlice).
 * A single row larger than a binding is refused: row kernels need the whole row in view.
 */
export function rowChunks(rows: number, rowLen: number, maxBindingBytes: number): { row0: number; rows: number }[] {
  const perChunk = Math.floor(sliceCapacity(maxBindingBytes) / rowLen);
  if (perChunk < 1) throw new RangeError(`a row of ${rowLen} elements does not fit a ${maxBindingBytes}-byte binding`);
  const out = [];
  for (let row0 = 0; row0 < rows; row0 += perChunk) out.push({ row0, rows: Math.min(perChunk, rows - row0) });
  return out;
}

/** Flat chunks: whole blocks of wg*items when a binding holds at least one, so chunking rarely changes the partition. */
function flatChunks(n: number, maxBindingBytes: number, block: number): { start: number; count: number }[] {
  const cap = sliceCapacity(maxBindingBytes);
  const per = cap >= block ? Math.floor(cap / block) * block : Math.floor(cap / ALIGN) * ALIGN;
  const out = [];
  for (let start = 0; start < n; start += per) out.push({ start, count: Math.min(per, n - start) });
  return out;
}

/** What a first pass sums: x, x*x, or (a - b)^2. */
export type FlatTerm = { kind: 'x' | 'sq'; x: Tensor } | { kind: 'sqdiff'; a: Tensor; b: Tensor };

const termLength = (t: FlatTerm) => (t.kind === 'sqdiff' ? t.a.numel : t.x.numel);

/** Partials a first pass over `n` elements writes. */
function blocksOf(rt: GpuRuntime, n: number): number {
  const { wg, items } = reduceTiles(rt.limits);
  const block = wg * items;
  return flatChunks(n, rt.limits.maxStorageBufferBindingSize, block).reduce((s, c) => s + Math.ceil(c.count / block), 0);
}

/** One pass: sums each block of `term` into out[outBase + k]; returns the number of partials written. */
function flatPass(rt: GpuRuntime, term: FlatTerm, out: Tensor, outBase: number, scale: number): number {
  const tiles = reduceTiles(rt.limits);
  const block = tiles.wg * tiles.items;
  const constants = { WG: tiles.wg, ITEMS: tiles.items };
  const n = termLength(term);
  let written = 0;
  for (const c of flatChunks(n, rt.limits.maxStorageBufferBindingSize, block)) {
    const nblk = Math.ceil(c.count / block);
    const dst = elementSlice(out, outBase + written, nblk);
    if (term.kind === 'sqdiff') {
      const source = reduceSource({ a: term.a.dtype, b: term.b.dtype });
      const u = params([['u32', c.count], ['u32', dst.base], ['u32', 0], ['f32', scale]]);
      rt.dispatch({ source, entryPoint: 'flat_sqdiff', constants, label: 'reduce-sqdiff' }, [chunkBinding(term.a, c), chunkBinding(term.b, c), dst.binding], u, nblk);
    } else {
      const source = reduceSource({ x: term.x.dtype });
      const u = params([['u32', c.count], ['u32', dst.base], ['u32', term.kind === 'sq' ? 1 : 0], ['f32', scale]]);
      rt.dispatch({ source, entryPoint: 'flat', constants, label: `reduce-${term.kind}` }, [chunkBinding(term.x, c), dst.binding], u, nblk);
    }
    written += nblk;
  }
  return written;
}

/**
 * out[0] = scale * (sum over every term). Deterministic: the blocks depend only on the sizes. Partials live in
 * 'workspace' buffers freed before returning (the ledger keeps them until the GPU is done with them).
 */
export function reduceFlatInto(rt: GpuRuntime, terms: FlatTerm[], out: Tensor, scale = 1): void {
  const total = terms.reduce((s, t) => s + blocksOf(rt, termLength(t)), 0);
  if (total === 0) {
    fillInPlace(out, 0); // nothing to sum
    return;
  }
  if (total === 1) {
    flatPass(rt, terms[0], out, 0, scale);
    return;
  }
  let partials = Tensor.empty(rt, [total], 'f32', 'workspace', 'reduce partials');
  let base = 0;
  for (const t of terms) base += flatPass(rt, t, partials, base, 1);
  // Every partials buffer is exactly as long as its count: each pass reads all of it.
  while (partials.numel > 1) {
    const next = blocksOf(rt, partials.numel);
    if (next === 1) {
      flatPass(rt, { kind: 'x', x: partials }, out, 0, scale);
      break;
    }
    const smaller = Tensor.empty(rt, [next], 'f32', 'workspace', 'reduce partials');
    flatPass(rt, { kind: 'x', x: partials }, smaller, 0, 1);
    partials.dispose();
    partials = smaller;
  }
  partials.dispose();
}

/** Sum of everything -> [1], or along the last dim ([..., L] -> [...]). Output dtype: x's. */
export function sum(x: Tensor, dim?: -1): Tensor {
  return dim === -1 ? reduceRows(x, 1, 'sum') : reduceAll(x, 1, 'sum');
}

/** Mean of everything -> [1], or along the last dim ([..., L] -> [...]). Output dtype: x's. */
export function mean(x: Tensor, dim?: -1): Tensor {
  return dim === -1 ? reduceRows(x, 1 / x.shape[x.shape.length - 1], 'mean') : reduceAll(x, 1 / x.numel, 'mean');
}

function reduceAll(x: Tensor, scale: number, name: string): Tensor {
  const y32 = Tensor.empty(x.rt, [1], 'f32', 'activations', name);
  reduceFlatInto(x.rt, [{ kind: 'x', x }], y32, scale);
  const y = asDtype(y32, x.dtype);
  const shape = [...x.shape];
  record(name, [x], [y], [], ([gy]) => [gy ? broadcastGrad(gy, shape, x.numel, scale) : null]);
  return y;
}

/** Along the last dim: [..., L] -> [...] ([1] for a 1-D input). One workgroup per row. */
function reduceRows(x: Tensor, scale: number, name: string): Tensor {
  const rt = x.rt;
  const L = x.shape[x.shape.length - 1];
  const rows = x.numel / L;
  const outShape = x.shape.length > 1 ? x.shape.slice(0, -1) : [1];
  const y32 = Tensor.empty(rt, outShape, 'f32', 'activations', `${name}(dim=-1)`);
  const { wg } = reduceTiles(rt.limits);
  const source = reduceSource({ x: x.dtype });
  for (const c of rowChunks(rows, L, rt.limits.maxStorageBufferBindingSize)) {
    const src = elementSlice(x, c.row0 * L, c.rows * L);
    const dst = elementSlice(y32, c.row0, c.rows);
    const u = params([['u32', c.rows], ['u32', L], ['u32', src.base], ['u32', dst.base], ['f32', scale]]);
    rt.dispatch({ source, entryPoint: 'rows', constants: { WG: wg }, label: `reduce-rows` }, [src.binding, dst.binding], u, c.rows);
  }
  const y = asDtype(y32, x.dtype);
  const shape = [...x.shape];
  record(`${name}(dim=-1)`, [x], [y], [], ([gy]) => [gy ? broadcastGrad(gy, shape, L, scale) : null]);
  return y;
}

/** gx[i] = g[i / L] * scale for a gradient of shape `shape` (f32). */
export function broadcastGrad(g: Tensor, shape: readonly number[], L: number, scale: number): Tensor {
  const rt = g.rt;
  const gx = Tensor.empty(rt, shape, 'f32', 'activations', 'reduce grad');
  const { wg } = reduceTiles(rt.limits);
  const source = reduceSource({ g: g.dtype });
  // Chunks of gx whose g range also fits a binding (g is never longer than gx).
  for (const c of flatChunks(gx.numel, rt.limits.maxStorageBufferBindingSize, ALIGN)) {
    const row0 = Math.floor(c.start / L);
    const rowEnd = Math.floor((c.start + c.count - 1) / L) + 1;
    const gs = elementSlice(g, row0, rowEnd - row0);
    const u = params([['u32', c.count], ['u32', c.start], ['u32', L], ['f32', scale], ['u32', row0], ['u32', gs.base]]);
    rt.dispatch({ source, entryPoint: 'broadcast', constants: { WG: wg }, label: 'reduce-broadcast' }, [gs.binding, chunkBinding(gx, c)], u, Math.ceil(c.count / wg));
  }
  return gx;
}
