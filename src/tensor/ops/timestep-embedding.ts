import embeddingWgsl from '../../../shaders/embedding.wgsl?raw';
import { window } from '../broadcast.ts';
import type { DType } from '../dtype.ts';
import { Tensor } from '../tensor.ts';
import { specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';

const WG = 64;
/** Must match the freqs array of shaders/embedding.wgsl (64 vec4f). */
const FREQS_PER_DISPATCH = 256;
const HEADER_WORDS = 8;

export interface TimestepEmbeddingOptions {
  flipSinToCos?: boolean;
  downscaleFreqShift?: number;
  scale?: number;
  maxPeriod?: number;
}

/**
 * diffusers.models.embeddings.get_timestep_embedding's frequencies, rounded at every step as torch rounds
 * them in float32: exponent = f32(-ln(maxPeriod)) * k / (half - shift), then exp. The exp is correctly
 * rounded here; torch's float32 exp is within 1 ulp of it (so an argument t * freq may differ by an ulp).
 */
export function timestepFrequencies(dim: number, shift: number, maxPeriod: number): Float32Array {
  const half = Math.floor(dim / 2);
  const f = Math.fround;
  const logPeriod = f(-Math.log(maxPeriod));
  const denom = f(half - shift);
  return Float32Array.from({ length: half }, (_, k) => f(Math.exp(f(f(logPeriod * k) / denom))));
}

/**
 * Sinusoidal timestep embedding [N, dim] of timesteps [N] (f32 values), exactly like diffusers'
 * get_timestep_embedding: [sin | cos] (or [cos | sin] with flipSinToCos), a zero column when dim is odd.
 * Not differentiable (timesteps are not), so nothing is recorded.
 */
export function timestepEmbedding(timesteps: Tensor, dim: number, opts: TimestepEmbeddingOptions = {}, dtype: DType = timesteps.dtype): Tensor {
  const { flipSinToCos = false, downscaleFreqShift = 1, scale = 1, maxPeriod = 10000 } = opts;
  if (timesteps.shape.length !== 1) throw new RangeError(`timesteps must be 1-D, got [${timesteps.shape}]`);
  if (!(Number.isInteger(dim) && dim >= 2)) throw new RangeError(`embedding dim ${dim}`);
  const rt = timesteps.rt;
  const n = timesteps.shape[0];
  const half = Math.floor(dim / 2);
  const y = Tensor.empty(rt, [n, dim], 'f32', 'activations', 'timestep embedding');
  if (y.bytes > rt.limits.maxStorageBufferBindingSize) throw new RangeError(`timestep embedding [${n}, ${dim}] passes one binding`);
  const freqs = timestepFrequencies(dim, downscaleFreqShift, maxPeriod);
  const spec = { source: specialize(embeddingWgsl, { t: timesteps.dtype }), constants: { WG }, label: 'timestep embedding' };
  for (let k0 = 0; k0 < half; k0 += FREQS_PER_DISPATCH) {
    const count = Math.min(FREQS_PER_DISPATCH, half - k0);
    const u = new ArrayBuffer((HEADER_WORDS + FREQS_PER_DISPATCH) * 4);
    new Uint32Array(u, 0, HEADER_WORDS).set([n, half, dim, flipSinToCos ? 1 : 0, k0, count, 0, 0]);
    new Float32Array(u, 6 * 4, 1)[0] = scale;
    new Float32Array(u, HEADER_WORDS * 4).set(freqs.subarray(k0, k0 + count));
    rt.dispatch(spec, [window(timesteps).binding, window(y).binding], new Uint8Array(u), Math.ceil((n * count) / WG));
  }
  return asDtype(y, dtype);
}
