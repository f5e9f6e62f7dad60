import type { Binding } from '../gpu/runtime.ts';
import { storageBytes, type DType } from './dtype.ts';
import type { Tensor } from './tensor.ts';

/** Chunk starts are multiples of this many elements: 256-byte offsets for f32 and for packed f16. */
const ELEMENT_ALIGN = 128;

export interface Chunk {
  start: number;
  count: number;
}

/**
 * Splits a flat range of `numel` elements so that no binding passes maxStorageBufferBindingSize.
 * Elementwise kernels bind each chunk's byte range and index from 0 inside it.
 */
export function elementChunks(numel: number, maxBindingBytes: number): Chunk[] {
  const perChunk = Math.max(ELEMENT_ALIGN, Math.floor(maxBindingBytes / 4 / ELEMENT_ALIGN) * ELEMENT_ALIGN);
  const out: Chunk[] = [];
  for (let start = 0; start < numel; start += perChunk) out.push({ start, count: Math.min(perChunk, numel - start) });
  return out;
}

/**
 * The byte range of `chunk` in tensor `t` as a binding. Always an explicit range, even for a single chunk:
 * the buffer's pool size class can pass maxStorageBufferBindingSize when the tensor does not.
 */
export function chunkBinding(t: Tensor, chunk: Chunk): Binding {
  const offset = storageBytes(chunk.start, t.dtype as DType);
  return { buffer: t.buffer, offset, size: storageBytes(chunk.count, t.dtype) };
}
