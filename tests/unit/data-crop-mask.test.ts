// Face box, resize and mask math.
import { describe, expect, it } from 'vitest';
import { axisWeights, boxInCodedFrame, centeredBox, clampBox, cropResizeRgba, rgbToChw, rotateRgba } from '../../src/data/crop.ts';
import { applyMask, DEFAULT_MASK, latentMask, maskRect, nearestDownsample, pixelMask, validateMask } from '../../src/data/mask.ts';

function rgbaOf(width: number, height: number, f: (x: number, y: number) => [number, number, number]) {
  const a = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const [r, g, b] = f(x, y);
    a.set([r, g, b, 255], (y * width + x) * 4);
  }
  return a;
}

describe('face box', () => {
  it('centres the largest square', () => {
    expect(centeredBox(320, 240)).toEqual({ x: 40, y: 0, size: 240 });
    expect(centeredBox(240, 320)).toEqual({ x: 0, y: 40, size: 240 });
    expect(centeredBox(3840, 2160)).toEqual({ x: 840, y: 0, size: 2160 });
    expect(centeredBox(255, 256)).toEqual({ x: 0, y: 0, size: 255 });
  });

  it('clamps a box into the frame without changing its size', () => {
    expect(clampBox({ x: 300, y: -5, size: 100 }, 320, 240)).toEqual({ x: 220, y: 0, size: 100 });
    expect(clampBox({ x: 0, y: 0, size: 1000 }, 320, 240)).toEqual({ x: 0, y: 0, size: 240 });
    expect(clampBox({ x: 10.4, y: 10.6, size: 3 }, 320, 240)).toEqual({ x: 10, y: 11, size: 16 });
  });

  it('maps display boxes to the coded frame for each rotation', () => {
    // coded 6x4, a 2x2 box; check by rotating a labelled image
    const W = 6, H = 4;
    const coded = rgbaOf(W, H, (x, y) => [x, y, 0]);
    for (const rot of [0, 90, 180, 270] as const) {
      const d = rotateRgba(coded, W, H, rot);
      const box = { x: 1, y: 2, size: 2 };
      const c = boxInCodedFrame(box, W, H, rot);
      // the set of coded pixels inside the display box equals the coded box
      const seen = new Set<string>();
      for (let y = box.y; y < box.y + 2; y++) for (let x = box.x; x < box.x + 2; x++) {
        const p = (y * d.width + x) * 4;
        seen.add(`${d.rgba[p]},${d.rgba[p + 1]}`);
      }
      const want = new Set<string>();
      for (let y = c.y; y < c.y + 2; y++) for (let x = c.x; x < c.x + 2; x++) want.add(`${x},${y}`);
      expect(seen, `rotation ${rot}`).toEqual(want);
    }
  });
});

describe('resize', () => {
  it('weights sum to one on every output pixel', () => {
    for (const [len, out] of [[2160, 256], [240, 256], [256, 256], [300, 7], [17, 64]] as const) {
      const w = axisWeights(5, len, out);
      for (let o = 0; o < out; o++) {
        let s = 0;
        for (let k = 0; k < w.count[o]!; k++) s += w.weights[o * w.maxCount + k]!;
        expect(s).toBeCloseTo(1, 5);
        expect(w.start[o]).toBeGreaterThanOrEqual(5);
        expect(w.start[o]! + w.count[o]!).toBeLessThanOrEqual(5 + len);
      }
    }
  });

  it('averages blocks exactly when shrinking by an integer factor (area filter)', () => {
    const src = rgbaOf(16, 8, (x, y) => [x * 10, y * 20, (x + y) % 2 ? 255 : 0]);
    const out = cropResizeRgba(src, 16, 8, { x: 4, y: 0, size: 8 }, 2);
    // top-left output: x 4..7, y 0..3 -> mean x 5.5 -> 55; mean y 1.5 -> 30; checkerboard -> 127.5
    expect(Array.from(out.slice(0, 3))).toEqual([55, 30, 128]);
    expect(Array.from(out.slice(9, 12))).toEqual([95, 110, 128]);
  });

  it('does not alias a fine pattern (a 1-px checkerboard becomes flat grey)', () => {
    const n = 1080;
    const src = new Uint8Array(n * n * 4);
    for (let p = 0; p < n * n; p++) if (((p % n) + Math.floor(p / n)) % 2) src.fill(255, p * 4, p * 4 + 4);
    const out = cropResizeRgba(src, n, n, { x: 0, y: 0, size: n }, 256);
    for (const v of out) expect(Math.abs(v - 127.5)).toBeLessThanOrEqual(4);
  });

  it('keeps identity at the same size and interpolates when growing', () => {
    const src = rgbaOf(8, 8, (x, y) => [x * 30, y * 30, 7]);
    const same = cropResizeRgba(src, 8, 8, { x: 0, y: 0, size: 8 }, 8);
    for (let p = 0; p < 64; p++) expect([same[p * 3], same[p * 3 + 1], same[p * 3 + 2]]).toEqual([(p % 8) * 30, Math.floor(p / 8) * 30, 7]);
    const ramp = rgbaOf(4, 4, (x) => [x * 60, 0, 0]);
    const up = cropResizeRgba(ramp, 4, 4, { x: 0, y: 0, size: 4 }, 8);
    const row = Array.from({ length: 8 }, (_, x) => up[x * 3]);
    // half-pixel centres: 0, 0, 15, 45, 75, 105, 135, 150... clamped at the ends
    expect(row).toEqual([0, 15, 45, 75, 105, 135, 165, 180]);
  });

  it('refuses a box outside the frame', () => {
    expect(() => cropResizeRgba(new Uint8Array(64), 4, 4, { x: 1, y: 0, size: 4 }, 2)).toThrow(/outside/);
  });

  it('normalizes RGB to CHW in [-1, 1]', () => {
    const chw = rgbToChw(Uint8Array.of(0, 255, 51, 255, 0, 102), 1 as number);
    expect(chw.length).toBe(3);
    const two = rgbToChw(new Uint8Array([0, 127, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0]), 2);
    expect(two[0]).toBe(-1);
    expect(two[4]).toBeCloseTo(127 / 127.5 - 1, 6);
    expect(two[8]).toBe(1);
  });
});

describe('mask', () => {
  it('masks the lower face between the side margins', () => {
    expect(maskRect(256)).toEqual({ y0: 128, y1: 256, x0: 16, x1: 240 });
    const m = pixelMask(16, { top: 0.5, bottom: 0.875, side: 0.25 });
    const at = (x: number, y: number) => m[y * 16 + x];
    expect(at(8, 7)).toBe(1); // above the top edge
    expect(at(8, 8)).toBe(0);
    expect(at(3, 10)).toBe(1); // in the side margin
    expect(at(4, 10)).toBe(0);
    expect(at(11, 10)).toBe(0);
    expect(at(12, 10)).toBe(1);
    expect(at(8, 14)).toBe(1); // below the bottom edge (0.875 * 16 = 14)
  });

  it('takes the latent-size mask by nearest sampling, as torch interpolate does', () => {
    const lm = latentMask(256, DEFAULT_MASK, 8);
    expect(lm.length).toBe(32 * 32);
    // rows 16..31 masked, columns 2..29 masked (16 px side margin = 2 latent pixels)
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      const masked = y >= 16 && x >= 2 && x < 30;
      expect(lm[y * 32 + x], `${x},${y}`).toBe(masked ? 0 : 1);
    }
    // odd edges: nearest takes the source pixel at floor(dst * scale)
    const m = new Float32Array(16).map((_, i) => i);
    expect(Array.from(nearestDownsample(m, 4, 2))).toEqual([0, 2, 8, 10]);
    expect(() => latentMask(100)).toThrow(/multiple/);
  });

  it('zeroes the masked pixels of a frame', () => {
    const mask = Float32Array.of(1, 0, 1, 0);
    const out = applyMask(new Float32Array(12).fill(0.5), mask);
    expect(Array.from(out)).toEqual([0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0]);
  });

  it('validates parameters', () => {
    expect(validateMask(DEFAULT_MASK)).toBeNull();
    expect(validateMask({ top: 0.6, bottom: 0.5, side: 0 })).toMatch(/below/);
    expect(validateMask({ top: 0.5, bottom: 1, side: 0.5 })).toMatch(/side/);
    expect(validateMask({ top: -1, bottom: 1, side: 0 })).toMatch(/fractions/);
  });
});
