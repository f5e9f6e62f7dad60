/**
 * A validation's frames as the gallery shows them: [F, 3, H, W] tensors in [-1, 1] on the host become a
 * few RGB byte frames (evenly spaced over the window, larger ones shrunk by area averaging so an event stays
 * small), and LatentSync's latent mask becomes the pixel box of the generated region (the mouth crop).
 */
import { cropResizeRgba } from '../data/crop.ts';
import type { HostTensor } from '../validate/tiled-vae.ts';
import type { TrainValidation, ValidationFrame } from './training-api.ts';

/** Frames sent per validation. */
export const VALIDATION_FRAMES = 4;
/** Frames above this side are shrunk to it (the mouth crop is enlarged in the page anyway). */
export const VALIDATION_SIDE = 256;

/** Up to `count` frame indices spread evenly over `n` frames, first and last included. */
export function spreadIndices(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, k) => Math.round((k * (n - 1)) / (count - 1)));
}

/** Frame f of a [F, 3, H, W] tensor in [-1, 1] as RGBA bytes. */
function rgbaOf(t: HostTensor, f: number): Uint8Array {
  const [, , H, W] = t.shape;
  const plane = H * W;
  const out = new Uint8Array(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[p * 4 + c] = toByte(t.data[(f * 3 + c) * plane + p]);
    out[p * 4 + 3] = 255;
  }
  return out;
}

const toByte = (v: number) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)));

/** RGBA to RGB, or a square frame shrunk to `side` (area averaging, the dataset's own resize). */
function rgbOf(rgba: Uint8Array, H: number, W: number, side: number): Uint8Array {
  if (H === W && H > side) return cropResizeRgba(rgba, W, H, { x: 0, y: 0, size: H }, side);
  const out = new Uint8Array(H * W * 3);
  for (let p = 0; p < H * W; p++) out.set(rgba.subarray(p * 4, p * 4 + 3), p * 3);
  return out;
}

/** The pixel box (in an H x W frame) of the latent mask's generated region (mask < 0.5); the whole frame when none. */
export function mouthBox(mask: Float32Array, h: number, w: number, H: number, W: number): TrainValidation['mouth'] {
  let y0 = h, y1 = -1, x0 = w, x1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x] >= 0.5) continue;
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
    }
  if (y1 < 0) return { x: 0, y: 0, width: W, height: H };
  // Latent pixel (y, x) covers frame pixels [y * H / h, (y + 1) * H / h): the metrics' nearest upsampling.
  const top = Math.ceil((y0 * H) / h), bottom = Math.ceil(((y1 + 1) * H) / h);
  const left = Math.ceil((x0 * W) / w), right = Math.ceil(((x1 + 1) * W) / w);
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/** The frames to send and the mouth box in their pixels. */
export function validationFrames(
  truth: HostTensor,
  generated: HostTensor,
  mask: Float32Array,
  latentSize: readonly [number, number],
  opts: { count?: number; side?: number } = {},
): { frames: ValidationFrame[]; mouth: TrainValidation['mouth'] } {
  const [F, , H, W] = truth.shape;
  const side = opts.side ?? VALIDATION_SIDE;
  const shrink = H === W && H > side ? side / H : 1;
  const size = { width: Math.round(W * shrink), height: Math.round(H * shrink) };
  const frames = spreadIndices(F, opts.count ?? VALIDATION_FRAMES).map((index) => ({
    index,
    truth: rgbOf(rgbaOf(truth, index), H, W, side),
    generated: rgbOf(rgbaOf(generated, index), H, W, side),
    size,
  }));
  return { frames, mouth: mouthBox(mask, latentSize[0], latentSize[1], size.height, size.width) };
}
