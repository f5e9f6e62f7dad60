import type { GpuRuntime } from '../src/gpu/runtime.ts';
import type { AutoencoderKL } from '../src/nn/vae/autoencoder-kl.ts';
import { scope } from '../src/tensor/scope.ts';
import { noGrad } from '../src/tensor/tape.ts';
import { Tensor } from '../src/tensor/tensor.ts';

/**
 * The baseline the benchmark measures our exact tiling against: the overlapped-blend tiling that diffusers'
 * AutoencoderKL.tiled_decode describes. Latent tiles of `tile` pixels start every tile * (1 - overlap); each
 * is decoded whole (its own GroupNorm statistics, its own attention, zero padding at its own borders),
 * then each decoded tile is blended linearly into the one above and the one to its left over
 * overlap * (tile * factor) image rows/columns, and cropped to its stride before it is placed. Written
 * here from that description; the blending runs on the host.
 */
export interface BlendResult {
  data: Float32Array;
  shape: number[];
  /** Highest ledger-held bytes above the start, over all tile decodes. */
  peakBytes: number;
  tiles: number;
}

interface Img {
  data: Float32Array;
  c: number;
  h: number;
  w: number;
}

/** Linear ramp from `above` (weight 1 at its last rows) into `below` (weight 1 after `extent` rows). */
function blendRows(above: Img, below: Img, extent: number): void {
  const e = Math.min(extent, above.h, below.h);
  const w = Math.min(above.w, below.w);
  for (let c = 0; c < below.c; c++) {
    for (let y = 0; y < e; y++) {
      const t = y / e;
      const a = (c * above.h + above.h - e + y) * above.w;
      const b = (c * below.h + y) * below.w;
      for (let x = 0; x < w; x++) below.data[b + x] = above.data[a + x] * (1 - t) + below.data[b + x] * t;
    }
  }
}

function blendCols(left: Img, right: Img, extent: number): void {
  const e = Math.min(extent, left.w, right.w);
  const h = Math.min(left.h, right.h);
  for (let c = 0; c < right.c; c++) {
    for (let y = 0; y < h; y++) {
      const a = (c * left.h + y) * left.w + left.w - e;
      const b = (c * right.h + y) * right.w;
      for (let x = 0; x < e; x++) right.data[b + x] = left.data[a + x] * (1 - x / e) + right.data[b + x] * (x / e);
    }
  }
}

/** One image's latents [C, h, w] on the host -> decoded [3, H, W] by blended overlapping tiles. */
async function blendOne(rt: GpuRuntime, vae: AutoencoderKL, lat: Img, tile: number, overlap: number): Promise<{ img: Img; tiles: number }> {
  const factor = 2 ** (vae.config.block_out_channels.length - 1);
  const stride = Math.max(1, Math.floor(tile * (1 - overlap)));
  const extent = Math.floor(tile * factor * overlap);
  const limit = tile * factor - extent;
  const rows: Img[][] = [];
  let tiles = 0;
  for (let i = 0; i < lat.h; i += stride) {
    const row: Img[] = [];
    for (let j = 0; j < lat.w; j += stride) {
      const th = Math.min(tile, lat.h - i);
      const tw = Math.min(tile, lat.w - j);
      const crop = new Float32Array(lat.c * th * tw);
      for (let c = 0; c < lat.c; c++) for (let y = 0; y < th; y++) crop.set(lat.data.subarray((c * lat.h + i + y) * lat.w + j, (c * lat.h + i + y) * lat.w + j + tw), (c * th + y) * tw);
      const z = Tensor.fromArray(rt, crop, [1, lat.c, th, tw], 'f32', 'validation', 'blend tile latents');
      const y = scope(() => noGrad(() => vae.decode(z)));
      z.dispose();
      row.push({ data: await y.toArray(), c: y.shape[1], h: y.shape[2], w: y.shape[3] });
      y.dispose();
      tiles++;
    }
    rows.push(row);
  }
  const c = rows[0][0].c;
  const out: Img = { data: new Float32Array(c * lat.h * factor * lat.w * factor), c, h: lat.h * factor, w: lat.w * factor };
  rows.forEach((row, ri) =>
    row.forEach((t, ci) => {
      if (ri > 0) blendRows(rows[ri - 1][ci], t, extent);
      if (ci > 0) blendCols(row[ci - 1], t, extent);
      const y0 = ri * stride * factor;
      const x0 = ci * stride * factor;
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < Math.min(limit, t.h, out.h - y0); y++) {
          const n = Math.min(limit, t.w, out.w - x0);
          out.data.set(t.data.subarray((ch * t.h + y) * t.w, (ch * t.h + y) * t.w + n), (ch * out.h + y0 + y) * out.w + x0);
        }
      }
    }),
  );
  return { img: out, tiles };
}

/** latents [N, C, h, w] on the host -> images [N, 3, H, W] on the host, diffusers-style. */
export async function blendTiledDecode(rt: GpuRuntime, vae: AutoencoderKL, latents: { shape: number[]; data: Float32Array }, tile: number, overlap = 0.25): Promise<BlendResult> {
  const [n, c, h, w] = latents.shape;
  rt.ledger.trim();
  const peak = { held0: rt.ledger.held, max: rt.ledger.held };
  const off = rt.ledger.onEvent((e) => {
    if (e.type === 'alloc' && e.held > peak.max) peak.max = e.held;
  });
  try {
    const parts: Float32Array[] = [];
    let tiles = 0;
    let shape: number[] = [];
    for (let k = 0; k < n; k++) {
      const lat: Img = { data: latents.data.subarray(k * c * h * w, (k + 1) * c * h * w), c, h, w };
      const { img, tiles: t } = await blendOne(rt, vae, lat, tile, overlap);
      parts.push(img.data);
      tiles += t;
      shape = [n, img.c, img.h, img.w];
    }
    const data = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
    return { data, shape, peakBytes: peak.max - peak.held0, tiles };
  } finally {
    off();
  }
}
