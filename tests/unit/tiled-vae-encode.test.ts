import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { scope } from '../../src/tensor/scope.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { encodeTiled, plannedPeak, type TiledReport } from '../../src/validate/tiled-vae.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { input, maxAbsDiff, seeded, tinyVae } from './tiled-vae-shared.ts';

/**
 * Tiled encode == model.encode (mean and logvar) on the tiny VAE: the stride-2 downsampler's halo, an odd
 * image size (18 x 14; its second level is 9 x 7), images on the GPU or read from host memory, and the
 * planned peak equal to the measured one.
 */
let rt: GpuRuntime;
let vae: AutoencoderKL;
let images: Tensor;
let ref: { mean: Float32Array; logvar: Float32Array };

beforeAll(async () => {
  rt = await testRuntime();
  vae = tinyVae(rt, 5);
  images = input(rt, [1, 3, 18, 14], 9);
  const out = scope(() => noGrad(() => vae.encode(images)));
  ref = { mean: await out.mean.toArray(), logvar: await out.logvar.toArray() };
  out.mean.dispose();
  out.logvar.dispose();
});

async function check(src: Tensor | { shape: number[]; data: Float32Array }, tile: number, staging: 'gpu' | 'host') {
  let report: TiledReport | null = null;
  const { mean, logvar } = await encodeTiled(vae, src, { capBytes: Infinity, tile, staging, onReport: (r) => (report = r) });
  expect(mean.shape).toEqual([1, 4, 9, 7]);
  const diff = Math.max(maxAbsDiff(await mean.toArray(), ref.mean), maxAbsDiff(await logvar.toArray(), ref.logvar));
  mean.dispose();
  logvar.dispose();
  return { diff, report: report! };
}

describe('tiled VAE encode', () => {
  it('equals the untiled encode with tiles that do not divide the maps', async () => {
    for (const [tile, staging] of [[5, 'gpu'], [4, 'host']] as const) {
      const { diff } = await check(images, tile, staging);
      console.log(`encode tile ${tile}, ${staging} staging: max abs diff ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(1e-5);
    }
  });

  it('reads the images from host memory tile by tile, with the peak the meta device planned', async () => {
    const host = { shape: [1, 3, 18, 14], data: seeded(3 * 18 * 14, 9) };
    rt.ledger.trim();
    const { diff, report } = await check(host, 6, 'host');
    const planned = await plannedPeak(vae.config, host.shape, { tile: 6, staging: 'host', imagesPerChunk: 1 }, Infinity, {
      direction: 'encode',
      limits: rt.limits,
      inputOnHost: true,
    });
    console.log(`encode from host, tile 6: max abs diff ${diff.toExponential(2)}, peak ${report.peakBytes} B (planned ${planned})`);
    expect(diff).toBeLessThanOrEqual(1e-5);
    expect(report.peakBytes).toBe(planned);
  });
});
