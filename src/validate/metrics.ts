import type { HostTensor } from './staged-activation.ts';

/** Whether pixel (y, x) of an image H x W lies where the latent mask (h x w, 1 = keep) keeps the frame. */
const keeps = (mask: Float32Array, h: number, w: number, H: number, W: number, y: number, x: number) =>
  mask[Math.floor((y * h) / H) * w + Math.floor((x * w) / W)] >= 0.5;

/** decoded * (1 - mask) + original * mask at pixel size (the latent mask, nearest-upsampled). */
export function compositeLowerFace(decoded: HostTensor, original: HostTensor, mask: Float32Array, h: number, w: number): HostTensor {
  const [n, c, H, W] = decoded.shape;
  const out = decoded.data.slice();
  for (let i = 0; i < n * c; i++)
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (keeps(mask, h, w, H, W, y, x)) out[(i * H + y) * W + x] = original.data[(i * H + y) * W + x];
  return { shape: [...decoded.shape], data: out };
}

/** PSNR of images in [-1, 1], in dB (peak-to-peak 2). */
export function psnr(a: Float32Array, b: Float32Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(4 / mse);
}

/** Mean absolute difference over the generated (mouth) region only. */
export function mouthL1(a: HostTensor, b: HostTensor, mask: Float32Array, h: number, w: number): number {
  const [n, c, H, W] = a.shape;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n * c; i++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        if (keeps(mask, h, w, H, W, y, x)) continue;
        const k = (i * H + y) * W + x;
        sum += Math.abs(a.data[k] - b.data[k]);
        count++;
      }
  return count ? sum / count : 0;
}
