// Putting the generated face back into the full frame: the model's crop (resolution x resolution) is
// resized to the box and blended in with a soft edge over the generated (mouth) region only. The blend
// weight is 0 on and outside the box, so every pixel outside the box is the input's byte for byte.
// No DOM.
import { cropResizeRgba, type FaceBox } from '../data/crop.ts';
import { DEFAULT_MASK, maskRect, type MaskParams } from '../data/mask.ts';

/** Feather width: 6% of the box side (at least one pixel), wide enough to hide the seam of a 256 px face. */
export const featherPixels = (boxSize: number) => Math.max(1, Math.round(boxSize * 0.06));

/**
 * Blend weights over the box, row-major [size, size]: 1 deep inside the masked rectangle, ramping linearly
 * to 0 over `feather` pixels towards its edges (the box's own edges included, as the mask reaches them),
 * 0 outside the rectangle.
 */
export function blendWeights(size: number, mask: MaskParams = DEFAULT_MASK, feather = featherPixels(size)): Float32Array {
  const { y0, y1, x0, x1 } = maskRect(size, mask);
  const w = new Float32Array(size * size);
  for (let y = y0; y < y1; y++) {
    const dy = Math.min(y + 0.5 - y0, y1 - y - 0.5);
    for (let x = x0; x < x1; x++) {
      const d = Math.min(dy, x + 0.5 - x0, x1 - x - 0.5);
      w[y * size + x] = Math.min(1, d / feather);
    }
  }
  return w;
}

/** CHW floats in [-1, 1] ([3, size, size], the VAE's output) to RGBA bytes, alpha opaque. */
export function chwToRgba(chw: Float32Array, size: number, out = new Uint8Array(size * size * 4)): Uint8Array {
  const hw = size * size;
  if (chw.length !== 3 * hw) throw new RangeError(`chwToRgba: ${chw.length} values are not [3, ${size}, ${size}]`);
  for (let p = 0; p < hw; p++) {
    for (let c = 0; c < 3; c++) out[p * 4 + c] = Math.min(255, Math.max(0, Math.round((chw[c * hw + p]! + 1) * 127.5)));
    out[p * 4 + 3] = 255;
  }
  return out;
}

/**
 * The output frame: a copy of `frame` (RGBA, width x height) with the generated crop (CHW in [-1, 1],
 * resolution x resolution) resized to the box and blended in with `weights` (blendWeights(box.size)).
 */
export function compositeFrame(frame: Uint8Array, width: number, height: number, box: FaceBox, generated: Float32Array, resolution: number, weights: Float32Array): Uint8Array {
  if (weights.length !== box.size * box.size) throw new RangeError(`compositeFrame: ${weights.length} weights for a ${box.size} px box`);
  if (box.x < 0 || box.y < 0 || box.x + box.size > width || box.y + box.size > height) throw new RangeError(`compositeFrame: box ${JSON.stringify(box)} is outside the ${width}x${height} frame`);
  // the same resize as the crop (area filter down, bilinear up), run from the crop back to the box
  const rgb = cropResizeRgba(chwToRgba(generated, resolution), resolution, resolution, { x: 0, y: 0, size: resolution }, box.size);
  const out = frame.slice();
  for (let y = 0; y < box.size; y++) {
    const row = ((box.y + y) * width + box.x) * 4;
    for (let x = 0; x < box.size; x++) {
      const a = weights[y * box.size + x]!;
      if (a === 0) continue;
      const p = row + x * 4, g = (y * box.size + x) * 3;
      for (let c = 0; c < 3; c++) out[p + c] = Math.round(a * rgb[g + c]! + (1 - a) * frame[p + c]!);
    }
  }
  return out;
}
