import { CheckpointFormatError } from './errors.ts';

/** Element types as checkpoint files name them (safetensors spelling; torch storages map onto these). */
export type FileDType =
  | 'F64' | 'F32' | 'F16' | 'BF16'
  | 'I64' | 'I32' | 'I16' | 'I8'
  | 'U64' | 'U32' | 'U16' | 'U8'
  | 'BOOL';

export const ITEM_SIZE: Readonly<Record<FileDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1,
};

export const isFileDType = (s: unknown): s is FileDType => typeof s === 'string' && Object.hasOwn(ITEM_SIZE, s);

/** How latent-lab keeps weights: f32, or IEEE halves as raw bits (packed two per u32 on the GPU). */
export type StorageDType = 'f32' | 'f16';

/** A host tensor: row-major, little-endian element bytes. Writers take any view of those bytes. */
export interface TensorData {
  dtype: FileDType;
  shape: readonly number[];
  data: ArrayBufferView;
}

/** What readers return: the same, with the bytes as a Uint8Array (may be a view into a larger buffer). */
export interface LoadedTensor extends TensorData {
  shape: number[];
  data: Uint8Array;
}

// Every reader and writer here copies bytes straight into typed arrays, which is only right on
// little-endian hosts (all browsers and Node platforms in practice). Fail loudly anywhere else.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('latent-lab checkpoint I/O needs a little-endian host');
}

export const bytesOf = (v: ArrayBufferView): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** The view's bytes over a plain ArrayBuffer, as a Blob needs them (only a SharedArrayBuffer is copied). */
const blobBytes = (v: ArrayBufferView): Uint8Array<ArrayBuffer> =>
  v.buffer instanceof ArrayBuffer ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(bytesOf(v));

/** Product of a shape; callers validate each dimension first. */
export const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> IEEE half bits, round to nearest, ties to even (as torch's .half()). */
export function f32ToF16(x: number): number {
  f32[0] = x;
  return halfFromF32Bits(u32[0]!);
}

function halfFromF32Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // inf, or NaN kept quiet
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00; // too large: inf
  if (e <= 0) {
    // Half subnormal (or zero): shift the full 24-bit significand into place and round.
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000;
    const shift = 14 - e;
    const h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return sign | (rem > half || (rem === half && h & 1) ? h + 1 : h);
  }
  const h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, and past the largest half it yields inf: both correct.
  return rem > 0x1000 || (rem === 0x1000 && h & 1) ? h + 1 : h;
}

/** IEEE half bits -> number (exact). */
export function f16ToF32(h: number): number {
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** bfloat16 bits -> number (exact: bf16 is the top half of an f32). */
export function bf16ToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

let f16Table: Float32Array | undefined;
/** All 65536 halves decoded once (256 KiB): bulk f16 -> f32 becomes one lookup per element. */
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

export function f32ToF16Array(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length); // same bytes, read as bits
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfFromF32Bits(bits[i]!);
  return out;
}

export function f16ToF32Array(src: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return out;
}

export function bf16ToF32Array(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return new Float32Array(out.buffer);
}

/** A fresh, aligned copy of the bytes: typed-array views need alignment, file offsets do not have it. */
const alignedCopy = (b: Uint8Array): ArrayBuffer => b.slice().buffer;

/**
 * Converts a loaded tensor to a storage dtype: 'f32' gives a Float32Array, 'f16' a Uint16Array of
 * IEEE half bits. Always returns fresh memory. Only float tensors convert; others are refused.
 */
export function toStorage(t: TensorData, storage: 'f32', name?: string): Float32Array;
export function toStorage(t: TensorData, storage: 'f16', name?: string): Uint16Array;
export function toStorage(t: TensorData, storage: StorageDType, name?: string): Float32Array | Uint16Array;
export function toStorage(t: TensorData, storage: StorageDType, name = 'tensor'): Float32Array | Uint16Array {
  const bytes = bytesOf(t.data);
  const n = numelOf(t.shape);
  if (bytes.byteLength !== n * ITEM_SIZE[t.dtype]) {
    throw new CheckpointFormatError('tensor', `${name}: ${bytes.byteLength} bytes do not hold shape [${t.shape.join(', ')}] of ${t.dtype}.`);
  }
  const buf = alignedCopy(bytes);
  switch (t.dtype) {
    case 'F32':
      return storage === 'f32' ? new Float32Array(buf) : f32ToF16Array(new Float32Array(buf));
    case 'F16':
      return storage === 'f16' ? new Uint16Array(buf) : f16ToF32Array(new Uint16Array(buf));
    case 'BF16': {
      const asF32 = bf16ToF32Array(new Uint16Array(buf));
      return storage === 'f32' ? asF32 : f32ToF16Array(asF32);
    }
    default:
      throw new CheckpointFormatError(
        'tensor',
        `${name} has dtype ${t.dtype}; only F32, F16 and BF16 tensors load as weights. ` +
          `Convert it in PyTorch (tensor.float()) or drop it from the state_dict.`,
      );
  }
}

/** Named tensors as callers hold them: a Map, a plain record, or [name, tensor] pairs (order is kept). */
export type NamedTensors = ReadonlyMap<string, TensorData> | Readonly<Record<string, TensorData>> | Iterable<readonly [string, TensorData]>;

/** The pairs of a NamedTensors in order, each checked to be writable (dtype, shape, byte length, unique name). */
export function writableTensors(tensors: NamedTensors): [string, TensorData, Uint8Array<ArrayBuffer>][] {
  const pairs: Iterable<readonly [string, TensorData]> =
    Symbol.iterator in tensors ? (tensors as Iterable<readonly [string, TensorData]>) : Object.entries(tensors);
  const out: [string, TensorData, Uint8Array<ArrayBuffer>][] = [];
  const seen = new Set<string>();
  for (const [name, t] of pairs) {
    if (seen.has(name)) throw new RangeError(`Tensor name "${name}" appears twice.`);
    seen.add(name);
    if (!isFileDType(t.dtype)) throw new RangeError(`Tensor "${name}" has unknown dtype ${String(t.dtype)}.`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RangeError(`Tensor "${name}" has an invalid shape [${t.shape.join(', ')}].`);
    }
    const bytes = blobBytes(t.data);
    const want = numelOf(t.shape) * ITEM_SIZE[t.dtype];
    if (bytes.byteLength !== want) {
      throw new RangeError(`Tensor "${name}" has ${bytes.byteLength} bytes of data; shape [${t.shape.join(', ')}] of ${t.dtype} needs ${want}.`);
    }
    out.push([name, t, bytes]);
  }
  return out;
}
