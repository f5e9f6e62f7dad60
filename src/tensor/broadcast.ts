import type { Binding } from '../gpu/runtime.ts';
import { numelOf, storageBytes, type DType } from './dtype.ts';
import type { Tensor } from './tensor.ts';

/**
 * Shared by the pointwise ops: numpy broadcasting, "affine" index maps (an operand's element index is
 * offset + sum(coord[d] * stride[d]) over a logical shape), and the windows that keep every binding under
 * maxStorageBufferBindingSize. Kernels get windows as bindings plus an element offset in the uniforms, so a
 * chunk can start anywhere (the binding itself starts 256-byte aligned, a little before).
 */

/** WebGPU's largest allowed minStorageBufferOffsetAlignment: binding offsets are multiples of this. */
const OFFSET_ALIGN_BYTES = 256;
/** Dims an affine kernel takes (after coalescing); two vec4u per shape/stride vector in the uniforms. */
export const MAX_RANK = 8;

/** numpy broadcasting: shapes aligned at their last dims; each dim equal, or 1. */
export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    let size = 1;
    for (const s of shapes) {
      const n = s[s.length - rank + d] ?? 1;
      if (n !== 1 && size !== 1 && n !== size) throw new RangeError(`shapes ${shapes.map((s) => `[${s}]`).join(', ')} do not broadcast`);
      if (n !== 1) size = n;
    }
    out.push(size);
  }
  return out;
}

export function stridesOf(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; s *= shape[d], d--) out[d] = s;
  return out;
}

/** Strides that read a contiguous tensor of `shape` at the coordinates of its broadcast `out` shape. */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const own = stridesOf(shape);
  return out.map((n, d) => {
    const k = d - (out.length - shape.length);
    return k < 0 || shape[k] === 1 ? 0 : own[k];
  });
}

/** Drops size-1 dims and merges neighbours that every stride list walks contiguously. */
export function coalesce(shape: readonly number[], strides: (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  shape.forEach((n, d) => {
    if (n === 1) return;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * n)) {
      outShape[last] *= n;
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(n);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  });
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  if (outShape.length > MAX_RANK) throw new RangeError(`[${shape}] needs ${outShape.length} dims after coalescing; kernels take ${MAX_RANK}`);
  return { shape: outShape, strides: outStrides };
}

/** A shape or stride vector as MAX_RANK u32 uniform fields, innermost dim first (padding: 1 / 0). */
export function innermostFirst(v: readonly number[], pad: number): Array<['u32', number]> {
  return Array.from({ length: MAX_RANK }, (_, i) => ['u32', i < v.length ? v[v.length - 1 - i] : pad]);
}

/** A tensor's elements [lo, hi] as a binding; the element at global index e is at binding index e - first. */
export interface Window {
  binding: Binding;
  first: number;
}

function alignedFirst(dtype: DType, lo: number): number {
  const align = OFFSET_ALIGN_BYTES / (dtype === 'f32' ? 4 : 2);
  return Math.floor(lo / align) * align;
}

/** Bytes the window over elements [lo, hi] takes, alignment slack included. */
export function windowBytes(dtype: DType, lo: number, hi: number): number {
  return storageBytes(hi + 1, dtype) - storageBytes(alignedFirst(dtype, lo), dtype);
}

/** Always an explicit range: a pooled buffer's size class can pass the binding limit when the tensor does not. */
export function window(t: Tensor, lo = 0, hi = t.numel - 1): Window {
  const first = alignedFirst(t.dtype, lo);
  const offset = storageBytes(first, t.dtype);
  const size = Math.max(4, windowBytes(t.dtype, lo, Math.max(lo, hi)));
  return { binding: { buffer: t.buffer, offset, size }, first };
}

/** A u32 uniform field: the binding index of global element 0 (wraps mod 2^32; kernels add in u32). */
export const offsetOf = (w: Window, globalOffset = 0): number => (globalOffset - w.first) >>> 0;

/** Ranges of whole rows of `rowLen` elements such that `rows * rowLen` f32 elements fit one binding. */
export function rowChunks(rows: number, rowLen: number, maxBindingBytes: number, multipleOf = 1): Array<{ row0: number; rows: number }> {
  let per = Math.floor((maxBindingBytes - OFFSET_ALIGN_BYTES) / (Math.max(1, rowLen) * 4));
  if (per >= multipleOf) per -= per % multipleOf;
  if (per < 1) throw new RangeError(`one row of ${rowLen} elements does not fit a ${maxBindingBytes}-byte binding`);
  const out: Array<{ row0: number; rows: number }> = [];
  for (let row0 = 0; row0 < rows; row0 += per) out.push({ row0, rows: Math.min(per, rows - row0) });
  return out;
}

// ---- affine index maps ----

export interface AffineOperand {
  dtype: DType;
  stride: readonly number[];
  offset: number;
}

export interface AffineChunk {
  start: number;
  count: number;
  /** Per operand: the lowest and highest element index the chunk touches. */
  ranges: Array<[number, number]>;
}

const innerSize = (shape: readonly number[], d: number) => numelOf(shape.slice(d + 1));

function maxIndex(shape: readonly number[], stride: readonly number[], d: number): number {
  let m = 0;
  for (let k = d; k < shape.length; k++) m += (shape[k] - 1) * stride[k];
  return m;
}

/** Lowest and highest sum(coord * stride) over the flat indices [s, e) of shape[d..] (strides >= 0). */
export function touched(shape: readonly number[], stride: readonly number[], s: number, e: number, d = 0): [number, number] {
  if (d === shape.length) return [0, 0];
  const inner = innerSize(shape, d);
  if (s === 0 && e === inner * shape[d]) return [0, maxIndex(shape, stride, d)];
  const r0 = Math.floor(s / inner);
  const r1 = Math.floor((e - 1) / inner);
  const st = stride[d];
  if (r0 === r1) {
    const [lo, hi] = touched(shape, stride, s - r0 * inner, e - r0 * inner, d + 1);
    return [lo + r0 * st, hi + r0 * st];
  }
  const head = touched(shape, stride, s - r0 * inner, inner, d + 1);
  const tail = touched(shape, stride, 0, e - r1 * inner, d + 1);
  let lo = Math.min(head[0] + r0 * st, tail[0] + r1 * st);
  let hi = Math.max(head[1] + r0 * st, tail[1] + r1 * st);
  if (r1 - r0 > 1) {
    lo = Math.min(lo, (r0 + 1) * st);
    hi = Math.max(hi, (r1 - 1) * st + maxIndex(shape, stride, d + 1));
  }
  return [lo, hi];
}

/**
 * A split point inside (s, e) on the outermost dim that has a boundary there, near the middle: splitting on
 * outer boundaries first is what shrinks the windows of operands that repeat (broadcast) along outer dims.
 */
export function splitPoint(shape: readonly number[], s: number, e: number): { at: number; dim: number } {
  for (let d = 0; d < shape.length; d++) {
    const inner = innerSize(shape, d);
    let at = Math.round((s + e) / 2 / inner) * inner;
    if (at <= s) at = (Math.floor(s / inner) + 1) * inner;
    if (at >= e) at = (Math.ceil(e / inner) - 1) * inner;
    if (at > s && at < e) return { at, dim: d };
  }
  throw new RangeError(`no split inside [${s}, ${e})`);
}

/** Chunks of the flat range of `shape` whose operand windows all fit one binding. */
export function planAffine(shape: readonly number[], operands: readonly AffineOperand[], maxBindingBytes: number): AffineChunk[] {
  const out: AffineChunk[] = [];
  const visit = (s: number, e: number) => {
    const ranges = operands.map((op): [number, number] => {
      const [lo, hi] = touched(shape, op.stride, s, e);
      return [lo + op.offset, hi + op.offset];
    });
    if (ranges.every(([lo, hi], k) => windowBytes(operands[k].dtype, lo, hi) <= maxBindingBytes)) out.push({ start: s, count: e - s, ranges });
    else {
      const { at } = splitPoint(shape, s, e);
      visit(s, at);
      visit(at, e);
    }
  };
  const total = numelOf(shape);
  if (total > 0) visit(0, total);
  return out;
}
