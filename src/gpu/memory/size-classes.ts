import type { Category } from './categories.ts';

/**
 * Pool size classes: 8 classes per power of two (at most 12.5% rounding waste), never below 256 bytes
 * (the storage-offset alignment, and small buffers are not worth splitting finer). A freed buffer
 * goes back to the free list of its class, and a request takes any buffer of its own class.
 */
export const MIN_CLASS_BYTES = 256;

export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS_BYTES) return MIN_CLASS_BYTES;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(MIN_CLASS_BYTES, octave / 8);
  return Math.ceil(bytes / step) * step;
}

/** Categories whose buffers live for a whole run: rounding them up would only waste memory (5.5% on LatentSync's weights). */
const LONG_LIVED: ReadonlySet<Category> = new Set(['weights', 'grads', 'optimizer']);

/** The bytes a request really takes: long-lived buffers are only aligned, transient ones get a size class. */
export function bufferBytes(bytes: number, category: Category): number {
  return LONG_LIVED.has(category) ? Math.ceil(bytes / MIN_CLASS_BYTES) * MIN_CLASS_BYTES : sizeClass(bytes);
}
