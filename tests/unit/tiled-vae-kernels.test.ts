import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { groupNorm } from '../../src/tensor/ops/group-norm.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { StagedActivation } from '../../src/validate/staged-activation.ts';
import { copyBox, normalizeTile } from '../../src/validate/tile-kernels.ts';
import { TileMomentsCollector } from '../../src/validate/tile-moments.ts';
import { tileGrid } from '../../src/validate/tiles.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { maxAbsDiff, seeded } from './tiled-vae-shared.ts';

/**
 * The tiled VAE's kernels on small maps, with maxStorageBufferBindingSize lowered so that every copy, norm
 * and moments pass is split into several bindings: crops, pastes and nearest-2x crops against host
 * references; tile statistics merged over tiles against the GroupNorm op on the whole map.
 */
let rt: GpuRuntime;
const [N, C, H, W, G] = [2, 6, 7, 5, 3];
const x = seeded(N * C * H * W, 21, 2).map((v, i) => v + (i % 3)); // a mean per channel, to test the merge

beforeAll(async () => {
  rt = await testRuntime();
  rt.limits.maxStorageBufferBindingSize = 1024; // 256 f32 (less the 256-byte alignment slack): a few 7x5 planes per binding
});

/** Host reference: region [y0, y0 + h) x [x0, x0 + w) of the map nearest-upsampled by `up`. */
function crop(src: Float32Array, y0: number, x0: number, h: number, w: number, up: number): Float32Array {
  const out = new Float32Array(N * C * h * w);
  for (let p = 0; p < N * C; p++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) out[(p * h + i) * w + j] = src[(p * H + Math.floor((y0 + i) / up)) * W + Math.floor((x0 + j) / up)];
  return out;
}

describe('tiled VAE kernels', () => {
  it('crop, paste and nearest-2x crop match the host, split over bindings', async () => {
    const t = Tensor.fromArray(rt, x, [N, C, H, W]);
    for (const [y0, x0, h, w, up] of [[1, 2, 4, 3, 1], [3, 1, 6, 7, 2], [0, 0, 14, 10, 2]]) {
      const out = Tensor.empty(rt, [N, C, h, w]);
      copyBox({ t, plane0: 0, y: y0, x: x0 }, { t: out, plane0: 0, y: 0, x: 0 }, N * C, h, w, up);
      expect(await out.toArray()).toEqual(crop(x, y0, x0, h, w, up));
    }
    // Pieces of a map staged on the GPU reassemble any rectangle, upsampled or not.
    const staged = StagedActivation.onGpu(rt, [N, C, H, W], 'test map');
    for (const r of tileGrid(H, W, 3)) {
      const piece = Tensor.empty(rt, [N, C, r.y1 - r.y0, r.x1 - r.x0]);
      copyBox({ t, plane0: 0, y: r.y0, x: r.x0 }, { t: piece, plane0: 0, y: 0, x: 0 }, N * C, r.y1 - r.y0, r.x1 - r.x0);
      await staged.store(r, piece);
    }
    expect(await staged.fetch({ y0: 2, y1: 6, x0: 1, x1: 5 }).toArray()).toEqual(crop(x, 2, 1, 4, 4, 1));
    expect(await staged.fetch({ y0: 3, y1: 11, x0: 2, x1: 9 }, 2).toArray()).toEqual(crop(x, 3, 2, 8, 7, 2));
    staged.dispose();
  });

  it('normalizes tiles with statistics merged over every tile, as GroupNorm does the whole map', async () => {
    const t = Tensor.fromArray(rt, x, [N, C, H, W]);
    const weight = Tensor.fromArray(rt, seeded(C, 4), [C]);
    const bias = Tensor.fromArray(rt, seeded(C, 5), [C]);
    const whole = await groupNorm(t, weight, bias, { groups: G, eps: 1e-6 }).toArray();
    const rects = tileGrid(H, W, 3);
    const collector = new TileMomentsCollector(rt, N, C, G, rects);
    const tiles = rects.map((r, k) => {
      const tile = Tensor.empty(rt, [N, C, r.y1 - r.y0, r.x1 - r.x0]);
      copyBox({ t, plane0: 0, y: r.y0, x: r.x0 }, { t: tile, plane0: 0, y: 0, x: 0 }, N * C, r.y1 - r.y0, r.x1 - r.x0);
      collector.add(tile, k);
      return tile;
    });
    const stats = (await collector.finish()).meanVariance();
    const statsT = Tensor.fromArray(rt, stats, [N * G, 2]);
    const host = new Float32Array(N * C * H * W);
    const sink = StagedActivation.onHost(rt, [N, C, H, W], 'sink', host);
    for (const [k, r] of rects.entries()) await sink.store(r, normalizeTile(tiles[k], weight, bias, statsT, G, 1e-6));
    const diff = maxAbsDiff(host, whole);
    console.log(`tile norm vs whole-map group norm: max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(2e-6);
  });
});
