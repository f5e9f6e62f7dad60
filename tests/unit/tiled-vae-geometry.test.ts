import { describe, expect, it } from 'vitest';
import { GroupStats } from '../../src/validate/group-stats.ts';
import { convInputWindow, convOutSize, rectArea, tileGrid, type Rect } from '../../src/validate/tiles.ts';
import { tileCandidates } from '../../src/validate/tile-plan.ts';

/** Host-only checks of the tiled VAE's geometry and statistics merge (no GPU). */
const conv3 = { kernel: 3, stride: 1, padding: [1, 1, 1, 1] as const };
const down = { kernel: 3, stride: 2, padding: [0, 1, 0, 1] as const };

describe('tile geometry', () => {
  it('covers a map exactly, with smaller tiles at the right and bottom edges', () => {
    for (const [h, w, t] of [[9, 7, 4], [18, 14, 5], [8, 8, 8], [3, 5, 16]]) {
      const tiles = tileGrid(h, w, t);
      expect(tiles.reduce((s, r) => s + rectArea(r), 0)).toBe(h * w);
      const hit = new Uint8Array(h * w);
      for (const r of tiles) for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) hit[y * w + x]++;
      expect(hit.every((v) => v === 1)).toBe(true);
    }
    expect(tileGrid(9, 7, 4).map((r) => [r.y1 - r.y0, r.x1 - r.x0])).toEqual([[4, 4], [4, 3], [4, 4], [4, 3], [1, 4], [1, 3]]);
  });

  it('gives a 3x3 conv a one-pixel halo, padded with zeros only where it leaves the map', () => {
    expect(convInputWindow({ y0: 0, y1: 4, x0: 4, x1: 7 }, conv3, 9, 7)).toEqual({ rect: { y0: 0, y1: 5, x0: 3, x1: 7 }, padding: [1, 0, 0, 1] });
    expect(convInputWindow({ y0: 4, y1: 8, x0: 0, x1: 4 }, conv3, 9, 7)).toEqual({ rect: { y0: 3, y1: 9, x0: 0, x1: 5 }, padding: [0, 0, 1, 0] });
  });

  it('reads 2t + 1 rows for the stride-2 downsampler padded (0, 1, 0, 1), and yields exactly the tile', () => {
    for (const h of [8, 9]) {
      const oh = convOutSize(h, 3, 2, 0, 1);
      for (const t of tileGrid(oh, oh, 2)) {
        const { rect, padding } = convInputWindow(t, down, h, h);
        expect(rect.y0).toBe(2 * t.y0);
        expect(convOutSize(rect.y1 - rect.y0, 3, 2, padding[0], padding[1])).toBe(t.y1 - t.y0);
        expect(padding[1]).toBe(2 * t.y1 + 1 > h ? 1 : 0);
      }
    }
  });

  it('maps an upsampled tile to a halo in the upsampled grid (the fetch folds the 2x in)', () => {
    // A conv after nearest 2x on a 5x5 map reads the 10x10 upsampled grid.
    const r: Rect = { y0: 3, y1: 7, x0: 0, x1: 4 };
    expect(convInputWindow(r, conv3, 10, 10)).toEqual({ rect: { y0: 2, y1: 8, x0: 0, x1: 5 }, padding: [0, 0, 1, 0] });
  });

  it('tries the largest tile first, then multiples of 8, then 4', () => {
    expect(tileCandidates(30)).toEqual([30, 24, 16, 8, 4]);
    expect(tileCandidates(4)).toEqual([4]);
  });
});

describe('GroupNorm statistics merged over tiles', () => {
  it('equals the whole set mean and biased variance, whatever the split', () => {
    const values = Float64Array.from({ length: 97 }, (_, i) => 3 + Math.sin(i * 1.3));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    for (const cuts of [[97], [10, 40, 47], [1, 1, 95]]) {
      const stats = new GroupStats(1);
      let at = 0;
      for (const n of cuts) {
        const part = values.subarray(at, at + n);
        const m = part.reduce((a, b) => a + b, 0) / n;
        stats.addTile(Float32Array.of(m, part.reduce((a, b) => a + (b - m) ** 2, 0)), 0, n);
        at += n;
      }
      const [gotMean, gotVar] = stats.meanVariance();
      expect(Math.abs(gotMean - mean)).toBeLessThan(1e-6);
      expect(Math.abs(gotVar - variance) / variance).toBeLessThan(1e-6);
    }
  });
});
