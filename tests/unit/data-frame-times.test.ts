// Retiming video to 25 fps by timestamp: output frame k at k/25 s shows the input frame whose
// interval covers it.
import { describe, expect, it } from 'vitest';
import { FrameRetimer, frameRateOf, outputFrameCount, outputTimeUs, retimeIndices } from '../../src/data/frame-times.ts';

const grid = (n: number, fps: number, origin = 0) => Array.from({ length: n }, (_, i) => origin + Math.round((i * 1e6) / fps));

describe('frame times', () => {
  it('maps 25 fps one to one, whatever the origin', () => {
    for (const origin of [0, 1_000_000, -80_000]) {
      const pts = grid(188, 25, origin);
      const idx = retimeIndices(pts, origin + 188 * 40_000);
      expect(Array.from(idx)).toEqual(Array.from({ length: 188 }, (_, i) => i));
    }
  });

  it('drops one frame in six from 30 fps', () => {
    const pts = grid(30, 30);
    const idx = Array.from(retimeIndices(pts, 1_000_000));
    expect(idx.length).toBe(25);
    // t_k = 40 ms k falls in [33.3 ms i, 33.3 ms (i + 1)): i = floor(1.2 k)
    expect(idx).toEqual(Array.from({ length: 25 }, (_, k) => Math.floor((k * 40_000) / (1e6 / 30) + 1e-9)));
    const skipped = pts.map((_, i) => i).filter((i) => !idx.includes(i));
    expect(skipped).toEqual([5, 11, 17, 23, 29]);
  });

  it('repeats frames from 12.5 fps and handles a rate change mid-clip (VFR)', () => {
    // first second at 30 fps, then every other frame (15 fps) for one more second
    const pts = [...grid(30, 30), ...grid(15, 15, 1_000_000)];
    const idx = Array.from(retimeIndices(pts, 2_000_000));
    expect(idx.length).toBe(50);
    for (let k = 0; k < 50; k++) {
      const t = k * 40_000;
      let i = 0;
      while (i + 1 < pts.length && pts[i + 1]! <= t) i++;
      expect(idx[k], `frame ${k}`).toBe(i);
    }
    const slow = Array.from(retimeIndices(grid(5, 12.5), 400_000));
    expect(slow).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it('counts output frames by the end of the last input frame', () => {
    expect(outputFrameCount(7_520_000, 25)).toBe(188);
    expect(outputFrameCount(7_520_001, 25)).toBe(189);
    expect(outputFrameCount(7_519_999, 25)).toBe(188);
    expect(outputFrameCount(0, 25)).toBe(0);
    expect(outputFrameCount(1, 25)).toBe(1);
    expect(outputTimeUs(3, 30)).toBe(100_000);
  });

  it('streams: each push returns what the previous frame covers', () => {
    const r = new FrameRetimer(25);
    expect(r.push(0)).toEqual([]);
    expect(r.push(100_000)).toEqual([0, 1, 2]); // frame 0 covers 0, 40, 80 ms
    expect(r.push(100_000)).toEqual([]); // duplicate timestamp: empty interval
    expect(r.push(110_000)).toEqual([]); // frame 2 covers [100, 110): no grid point
    expect(r.finish(200_000)).toEqual([3, 4]);
    expect(r.inputFrames).toBe(4);
    expect(r.outputFrames).toBe(5);
    expect(new FrameRetimer().finish(1000)).toEqual([]);
  });

  it('estimates the rate and spots variable frame rate', () => {
    expect(frameRateOf(grid(30, 30)).fps).toBeCloseTo(30, 1);
    expect(frameRateOf(grid(30, 30)).variable).toBe(false);
    expect(frameRateOf([...grid(30, 30), ...grid(15, 15, 1_000_000)]).variable).toBe(true);
  });
});
