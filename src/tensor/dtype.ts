/**
 * Storage dtypes. Compute is always f32; f16 is stored as pairs packed into u32 words (pack2x16float and
 * unpack2x16float are core WGSL), so half-precision storage works on every adapter.
 */
export type DType = 'f32' | 'f16';

/** Bytes a tensor of `numel` elements takes on the GPU (f16: whole u32 words). */
export function storageBytes(numel: number, dtype: DType): number {
  return dtype === 'f32' ? numel * 4 : Math.ceil(numel / 2) * 4;
}

export const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
