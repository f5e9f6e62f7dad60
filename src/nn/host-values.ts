import { bytesOf, toStorage, type TensorData } from '../io/dtype.ts';

/**
 * A host tensor's values as f32, integers included: diffusers' forward takes timesteps as int64 or float,
 * and files carry them either way. Floats convert as weights do; integers are read exactly and rounded to f32.
 */
export function floatValues(t: TensorData, name = 'tensor'): Float32Array {
  const bytes = bytesOf(t.data).slice();
  switch (t.dtype) {
    case 'I64':
      return Float32Array.from(new BigInt64Array(bytes.buffer), (v) => Number(v));
    case 'U64':
      return Float32Array.from(new BigUint64Array(bytes.buffer), (v) => Number(v));
    case 'I32':
      return Float32Array.from(new Int32Array(bytes.buffer));
    case 'U32':
      return Float32Array.from(new Uint32Array(bytes.buffer));
    case 'I16':
      return Float32Array.from(new Int16Array(bytes.buffer));
    case 'U16':
      return Float32Array.from(new Uint16Array(bytes.buffer));
    case 'I8':
      return Float32Array.from(new Int8Array(bytes.buffer));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(bytes);
    default:
      return toStorage(t, 'f32', name);
  }
}
