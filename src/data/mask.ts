// The LatentSync-style inpainting mask: 1 where the frame is kept (upper face, sides), 0 over the
// lower face that the UNet generates. Parametric instead of LatentSync's fixed mask image: the
// masked rectangle runs from `top` to `bottom` (fractions of the height) and leaves `side` (a
// fraction of the width) kept on the left and on the right.
// The latent-size mask is the pixel mask taken with nearest-neighbour sampling, as LatentSync does
// with torch.nn.functional.interpolate(mask, size=latent_size) (mode "nearest": src = floor(dst * scale)).
// No DOM: runs in the worker and in Node.

export interface MaskParams {
  /** Top edge of the masked region, fraction of the height from the top. */
  top: number;
  /** Bottom edge of the masked region, fraction of the height from the top. */
  bottom: number;
  /** Kept margin on each side, fraction of the width. */
  side: number;
}

export const DEFAULT_MASK: MaskParams = { top: 0.5, bottom: 1, side: 0.0625 };

export function validateMask(p: MaskParams): string | null {
  const ok = (v: number) => Number.isFinite(v) && v >= 0 && v <= 1;
  if (!ok(p.top) || !ok(p.bottom) || !ok(p.side)) return 'mask edges must be fractions between 0 and 1';
  if (p.bottom <= p.top) return 'the mask bottom must be below its top';
  if (p.side >= 0.5) return 'the side margins must leave part of the width masked (each under 0.5)';
  return null;
}

/** The masked rectangle in pixels of a size x size frame: rows [y0, y1), columns [x0, x1). */
export function maskRect(size: number, p: MaskParams = DEFAULT_MASK) {
  return {
    y0: Math.round(p.top * size),
    y1: Math.round(p.bottom * size),
    x0: Math.round(p.side * size),
    x1: size - Math.round(p.side * size),
  };
}

/** [size, size] mask: 1 kept, 0 masked (generated). */
export function pixelMask(size: number, p: MaskParams = DEFAULT_MASK): Float32Array {
  const { y0, y1, x0, x1 } = maskRect(size, p);
  const m = new Float32Array(size * size).fill(1);
  for (let y = y0; y < y1; y++) m.fill(0, y * size + x0, y * size + x1);
  return m;
}

/** Nearest-neighbour downsampling of a square mask, torch's interpolate(mode="nearest"). */
export function nearestDownsample(mask: Float32Array, size: number, outSize: number): Float32Array {
  const out = new Float32Array(outSize * outSize);
  const scale = size / outSize;
  for (let y = 0; y < outSize; y++) {
    const sy = Math.min(size - 1, Math.floor(y * scale));
    for (let x = 0; x < outSize; x++) out[y * outSize + x] = mask[sy * size + Math.min(size - 1, Math.floor(x * scale))]!;
  }
  return out;
}

/** [size / factor, size / factor] latent-size mask (factor 8 for the SD VAE). */
export function latentMask(size: number, p: MaskParams = DEFAULT_MASK, factor = 8): Float32Array {
  if (size % factor) throw new RangeError(`latentMask: ${size} is not a multiple of ${factor}`);
  return nearestDownsample(pixelMask(size, p), size, size / factor);
}

/** Masked copy of a CHW float frame in [-1, 1]: masked pixels become 0 (mid-grey), as LatentSync's pixel_values * masks. */
export function applyMask(chw: Float32Array, mask: Float32Array, channels = 3): Float32Array {
  const hw = mask.length;
  if (chw.length !== channels * hw) throw new RangeError(`applyMask: frame has ${chw.length} values, mask ${hw} per channel`);
  const out = new Float32Array(chw.length);
  for (let c = 0; c < channels; c++) for (let p = 0; p < hw; p++) out[c * hw + p] = chw[c * hw + p]! * mask[p]!;
  return out;
}
