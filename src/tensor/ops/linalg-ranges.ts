import type { Binding } from '../../gpu/runtime.ts';
import type { Tensor } from '../tensor.ts';

/** WebGPU's default (and Dawn's) minStorageBufferOffsetAlignment. */
const OFFSET_ALIGN = 256;

/** Bytes a range binding may need beyond its elements: the offset is aligned down, the end up to a word. */
export const RANGE_SLACK = OFFSET_ALIGN + 4;

export interface RangeBinding {
  binding: Binding;
  /** Index, inside the binding, of the range's first element. */
  base: number;
}

/**
 * Binds elements [start, start + count) of `t`, for kernels that index a large tensor chunk by chunk: the
 * binding's offset is aligned down to 256 bytes and the kernel adds `base`. Any start works, so chunk
 * boundaries (a batch item, a row block) need no alignment. Throws when the range does not fit one binding.
 */
export function rangeBinding(t: Tensor, start: number, count: number, maxBindingBytes: number): RangeBinding {
  const elemBytes = t.dtype === 'f32' ? 4 : 2;
  const startByte = start * elemBytes;
  const offset = Math.floor(startByte / OFFSET_ALIGN) * OFFSET_ALIGN;
  const size = rangeSize(t, start, count);
  if (size > maxBindingBytes) {
    throw new RangeError(`${t}: a range of ${count} elements needs a ${size}-byte binding, over maxStorageBufferBindingSize (${maxBindingBytes})`);
  }
  return { binding: { buffer: t.buffer, offset, size }, base: (startByte - offset) / elemBytes };
}

/** The exact byte size of rangeBinding(t, start, count). */
export function rangeSize(t: Tensor, start: number, count: number): number {
  const elemBytes = t.dtype === 'f32' ? 4 : 2;
  const offset = Math.floor((start * elemBytes) / OFFSET_ALIGN) * OFFSET_ALIGN;
  return Math.max(4, Math.ceil(((start + count) * elemBytes) / 4) * 4 - offset);
}

/**
 * The most items (of `per` elements each, `items` in all) per chunk such that every chunk of each tensor
 * binds within `maxBindingBytes`, checked exactly at every chunk start (a tensor of exactly the limit fits
 * when its items start on 256-byte boundaries). Tensors with per = 0 are bound whole. 0 when one item is
 * already too big.
 */
export function itemsPerChunk(items: number, parts: ReadonlyArray<readonly [Tensor, number]>, maxBindingBytes: number, extra: (n: number) => boolean = () => true): number {
  const fits = (n: number) => {
    if (!extra(n)) return false;
    for (const [t, per] of parts) {
      if (per === 0) {
        if (rangeSize(t, 0, t.numel) > maxBindingBytes) return false;
        continue;
      }
      for (let i0 = 0; i0 < items; i0 += n) if (rangeSize(t, i0 * per, Math.min(n, items - i0) * per) > maxBindingBytes) return false;
    }
    return true;
  };
  return largestFitting(items, fits);
}

/** The whole tensor as one range binding. */
export const wholeBinding = (t: Tensor, maxBindingBytes: number): RangeBinding => rangeBinding(t, 0, t.numel, maxBindingBytes);

/** Bytes a binding of `count` elements of `t`'s dtype may take, slack included (for chunk planning). */
export const rangeBytes = (t: Tensor, count: number): number => count * (t.dtype === 'f32' ? 4 : 2) + RANGE_SLACK;

/** The largest n in [1, hi] with fits(n), assuming fits is monotone (true up to some n); 0 when fits(1) fails. */
export function largestFitting(hi: number, fits: (n: number) => boolean): number {
  if (hi < 1 || !fits(1)) return 0;
  let lo = 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
