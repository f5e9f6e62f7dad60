// Video to a constant frame rate by timestamp, for any input rate, variable ones included.
// Output frame k stands at t_k = k / fps seconds after the first frame. It shows the input frame
// whose interval [pts_i, pts_{i+1}) covers t_k (the last frame's interval ends at its pts plus
// its duration). A 30 fps input drops one frame in six; a 12.5 fps stretch of a VFR input shows
// each frame twice; a 25 fps input maps one to one. Times are integer microseconds, as WebCodecs
// gives them, so a 25 fps input lands exactly on the grid without rounding questions.
// No DOM: runs in the worker and in Node.

export const TARGET_FPS = 25;

/** t_k in microseconds after the origin: exact for rates that divide 1e6, else rounded. */
export function outputTimeUs(k: number, fps: number): number {
  return Math.round((k * 1e6) / fps);
}

/** How many output frames a span of `durationUs` holds: those with t_k < durationUs. */
export function outputFrameCount(durationUs: number, fps: number): number {
  if (!(durationUs > 0)) return 0;
  // first guess by division, then fix up against the rounded grid
  let n = Math.ceil((durationUs * fps) / 1e6);
  while (n > 0 && outputTimeUs(n - 1, fps) >= durationUs) n--;
  while (outputTimeUs(n, fps) < durationUs) n++;
  return n;
}

/**
 * Streaming retimer: feed input frames in presentation order with push(pts); each call returns the
 * output frames that the previous input frame covers (possibly none, possibly several). finish(end)
 * returns those of the last input frame. pts are microseconds on any origin: the first pts is t = 0.
 */
export class FrameRetimer {
  private origin: number | null = null;
  private lastPts = 0;
  private next = 0; // next output frame index to assign
  private pushed = 0;

  constructor(readonly fps: number = TARGET_FPS) {}

  /** Input frames seen so far. */
  get inputFrames(): number {
    return this.pushed;
  }

  /** Output frames assigned so far. */
  get outputFrames(): number {
    return this.next;
  }

  /**
   * The output frames covered by the previous input frame, now that the next one starts at pts.
   * A pts that does not increase (a duplicate timestamp) gives the previous frame an empty
   * interval: it covers nothing and the newer frame takes its place.
   */
  push(pts: number): number[] {
    this.pushed++;
    if (this.origin === null) {
      this.origin = pts;
      this.lastPts = pts;
      return [];
    }
    const covered = this.cover(pts - this.origin);
    this.lastPts = Math.max(this.lastPts, pts);
    return covered;
  }

  /** The output frames the last input frame covers, its interval ending at endPts. */
  finish(endPts: number): number[] {
    if (this.origin === null) return [];
    return this.cover(Math.max(endPts, this.lastPts) - this.origin);
  }

  private cover(untilUs: number): number[] {
    const out: number[] = [];
    while (outputTimeUs(this.next, this.fps) < untilUs) out.push(this.next++);
    return out;
  }
}

/**
 * The whole mapping at once: for each output frame, the index of the input frame it shows.
 * pts in presentation order (microseconds); endUs is where the last frame ends.
 */
export function retimeIndices(pts: readonly number[], endUs: number, fps: number = TARGET_FPS): Int32Array {
  const retimer = new FrameRetimer(fps);
  const picks: number[] = [];
  pts.forEach((t, i) => {
    for (const _k of retimer.push(t)) picks.push(i - 1);
  });
  for (const _k of retimer.finish(endUs)) picks.push(pts.length - 1);
  return Int32Array.from(picks);
}

/**
 * Frame rate statistics of a list of presentation timestamps: the median interval gives the
 * nominal rate; a clip is variable-rate when intervals differ from the median by more than 10%.
 */
export function frameRateOf(pts: readonly number[]): { fps: number; variable: boolean } {
  if (pts.length < 2) return { fps: 0, variable: false };
  const d = [];
  for (let i = 1; i < pts.length; i++) d.push(pts[i]! - pts[i - 1]!);
  const sorted = [...d].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1]!;
  const variable = d.some((x) => Math.abs(x - median) > 0.1 * median);
  return { fps: median > 0 ? 1e6 / median : 0, variable };
}
