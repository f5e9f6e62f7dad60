import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { decodeTiled, decodeTiledToHost, type Staging, type TiledReport } from '../../src/validate/tiled-vae.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { input, maxAbsDiff, tinyVae, untiledDecode } from './tiled-vae-shared.ts';

/**
 * Tiled decode == model.decode on the tiny VAE (seeded weights), to f32 rounding: tiles that divide the
 * maps and tiles that do not, an odd latent size (9 x 7 -> 18 x 14 images), maps staged on the GPU, in host
 * memory, or split between them, and a batch decoded one image at a time.
 */
const TOL = 1e-5;
let rt: GpuRuntime;
let vae: AutoencoderKL;
let latents: Tensor;
let reference: Float32Array;

beforeAll(async () => {
  rt = await testRuntime();
  vae = tinyVae(rt);
  latents = input(rt, [2, 4, 9, 7], 11);
  reference = (await untiledDecode(rt, vae, latents)).values;
});

async function tiled(tile: number, staging: Staging, imagesPerChunk?: number): Promise<{ diff: number; report: TiledReport }> {
  let report: TiledReport | null = null;
  const out = await decodeTiled(vae, latents, { capBytes: Infinity, tile, staging, imagesPerChunk, onReport: (r) => (report = r) });
  expect(out.shape).toEqual([2, 3, 18, 14]);
  const diff = maxAbsDiff(await out.toArray(), reference);
  out.dispose();
  return { diff, report: report! };
}

describe('tiled VAE decode', () => {
  it('equals the untiled decode with tiles that do not divide the maps (odd size), staged on the GPU', async () => {
    const { diff, report } = await tiled(4, 'gpu');
    console.log(`tile 4, gpu staging: max abs diff ${diff.toExponential(2)}, ${report.tiles} tiles`);
    expect(report.tiles).toBeGreaterThan(60);
    expect(diff).toBeLessThanOrEqual(TOL);
  });

  it('equals it with maps staged in host memory, one image at a time', async () => {
    const { diff, report } = await tiled(5, 'host', 1);
    console.log(`tile 5, host staging, 1 image per chunk: max abs diff ${diff.toExponential(2)}`);
    expect(report.hostMaps).toBe(2 * 15);
    expect(report.gpuMaps).toBe(0);
    expect(diff).toBeLessThanOrEqual(TOL);
  });

  it('equals it with maps split between GPU and host, and with one tile as large as the map', async () => {
    for (const [tile, staging] of [[3, { gpuBytes: 40000 }], [18, 'gpu']] as const) {
      const { diff, report } = await tiled(tile, staging);
      console.log(`tile ${tile}, staging ${JSON.stringify(staging)}: max abs diff ${diff.toExponential(2)} (${report.gpuMaps} maps on GPU, ${report.hostMaps} on host)`);
      expect(diff).toBeLessThanOrEqual(TOL);
      if (tile === 3) expect(report.gpuMaps > 0 && report.hostMaps > 0).toBe(true);
    }
  });

  it('writes the images to host memory tile by tile (decodeTiledToHost)', async () => {
    const before = rt.ledger.snapshot().live;
    const host = await decodeTiledToHost(vae, latents, { capBytes: Infinity, tile: 6, staging: 'host' });
    expect(host.shape).toEqual([2, 3, 18, 14]);
    expect(maxAbsDiff(host.data, reference)).toBeLessThanOrEqual(TOL);
    expect(rt.ledger.snapshot().live).toBe(before);
  });
});
