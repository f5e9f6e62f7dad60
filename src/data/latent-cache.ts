// The latent cache: every stored frame, and the same frame with its lower face masked, encoded
// once by the VAE and kept beside the clip, so training never runs the encoder. The encoder is a
// function (frames in, latents out): the VAE's when it is loaded, a stand-in in tests.
// A cache made by another encoder (a different VAE) is dropped and made again.
// Worker-safe.
import { applyMask, pixelMask } from './mask.ts';
import { rgbToChw } from './crop.ts';
import { FRAMES_PER_CHUNK, type ClipMeta, type DatasetStore } from '../store/dataset-store.ts';

export interface LatentEncoder {
  /** Names the weights: a cache made with another id is stale. */
  id: string;
  /** Spatial downsampling (8 for the SD VAE) and latent channels (4). */
  factor: number;
  channels: number;
  /** frames: n x [3, size, size] in [-1, 1] -> n x [channels, size / factor, size / factor]. */
  encode(frames: Float32Array, n: number, size: number): Promise<Float32Array>;
}

export interface CacheOptions {
  /** Frames per encode call (each call also encodes their masked copies). */
  batch?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Encodes a clip's frames and masked frames; returns its updated metadata. No-op when cached by the same encoder. */
export async function cacheLatents(store: DatasetStore, clipId: string, encoder: LatentEncoder, opts: CacheOptions = {}): Promise<ClipMeta> {
  const meta = await store.getClip(clipId);
  if (!meta) throw new Error(`no clip ${clipId}`);
  const ds = await store.getDataset(meta.datasetId);
  if (!ds) throw new Error(`clip ${meta.name} has no dataset`);
  if (meta.latents?.encoder === encoder.id && meta.latents.frames === meta.frames) return meta;
  if (meta.latents || (await store.readLatents(clipId)).length) {
    await store.dropLatents(clipId);
    meta.latents = null;
    await store.updateClip(meta);
  }
  const size = meta.resolution;
  if (size % encoder.factor) throw new Error(`resolution ${size} is not a multiple of the encoder's factor ${encoder.factor}`);
  const h = size / encoder.factor;
  const per = encoder.channels * h * h;
  const mask = pixelMask(size, ds.config.mask);
  const frameBytes = size * size * 3;
  const batch = Math.max(1, Math.min(FRAMES_PER_CHUNK, opts.batch ?? 4));
  let bytes = 0;
  for (let chunk = 0; chunk * FRAMES_PER_CHUNK < meta.frames; chunk++) {
    const from = chunk * FRAMES_PER_CHUNK;
    const count = Math.min(FRAMES_PER_CHUNK, meta.frames - from);
    const rgb = await store.readFrames(clipId, from, count, frameBytes);
    const latents = new Float32Array(count * per), masked = new Float32Array(count * per);
    for (let b = 0; b < count; b += batch) {
      if (opts.signal?.aborted) throw new Error('cancelled');
      const n = Math.min(batch, count - b);
      // one call: n frames, then the same n frames masked
      const input = new Float32Array(2 * n * 3 * size * size);
      for (let i = 0; i < n; i++) {
        const chw = rgbToChw(rgb.subarray((b + i) * frameBytes, (b + i + 1) * frameBytes), size);
        input.set(chw, i * chw.length);
        input.set(applyMask(chw, mask), (n + i) * chw.length);
      }
      const out = await encoder.encode(input, 2 * n, size);
      if (out.length !== 2 * n * per) throw new Error(`encoder ${encoder.id} returned ${out.length} values for ${2 * n} frames; expected ${2 * n * per}`);
      latents.set(out.subarray(0, n * per), b * per);
      masked.set(out.subarray(n * per), b * per);
      opts.onProgress?.(from + b + n, meta.frames);
    }
    await store.putLatents({ clipId, chunk, count, latents, masked });
    bytes += latents.byteLength + masked.byteLength;
  }
  const updated: ClipMeta = {
    ...meta,
    latents: { encoder: encoder.id, shape: [encoder.channels, h, h], frames: meta.frames },
    storedBytes: meta.storedBytes + bytes,
  };
  await store.updateClip(updated);
  return updated;
}

/**
 * A stand-in for the VAE until it is loaded: 8 x 8 average pooling (the VAE's downsampling) of
 * the three colour channels, and their mean as a fourth. Deterministic and cheap; its latents
 * have the VAE's shape, so everything downstream of the cache runs on them.
 */
export const poolingStandIn: LatentEncoder = {
  id: 'stand-in:avgpool8',
  factor: 8,
  channels: 4,
  async encode(frames, n, size) {
    const h = size / 8, hw = h * h;
    const out = new Float32Array(n * 4 * hw);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const src = (i * 3 + c) * size * size;
        for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) {
          let acc = 0;
          for (let dy = 0; dy < 8; dy++) for (let dx = 0; dx < 8; dx++) acc += frames[src + (y * 8 + dy) * size + x * 8 + dx]!;
          out[(i * 4 + c) * hw + y * h + x] = acc / 64;
          out[(i * 4 + 3) * hw + y * h + x] += acc / 192;
        }
      }
    }
    return out;
  },
};
