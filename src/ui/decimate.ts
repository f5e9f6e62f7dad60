/**
 * Keeps a long series drawable: points go into buckets of `size` consecutive points, and each bucket keeps
 * its lowest and its highest point (spikes survive). When the buckets pass `2 * target`, neighbours merge
 * and the bucket size doubles, so appending is O(1) amortized and the drawn series never holds more than
 * about 4 * target points, however long the run.
 */
export interface Extreme {
  x: number;
  y: number;
  /** A second value carried with the point (the smoothed loss). */
  z: number;
}

interface Bucket {
  lo: Extreme;
  hi: Extreme;
  n: number;
}

export class Decimator {
  private buckets: Bucket[] = [];
  /** Points per full bucket. */
  size = 1;
  count = 0;

  constructor(readonly target = 600) {}

  push(x: number, y: number, z = y): void {
    this.count++;
    const p = { x, y, z };
    const last = this.buckets.at(-1);
    if (last && last.n < this.size) {
      if (y < last.lo.y) last.lo = p;
      if (y > last.hi.y) last.hi = p;
      last.n++;
      return;
    }
    this.buckets.push({ lo: p, hi: p, n: 1 });
    if (this.buckets.length > 2 * this.target) this.halve();
  }

  /** The kept points in x order (a bucket's low and high, once each). */
  series(): { x: number[]; y: number[]; z: number[] } {
    const x: number[] = [], y: number[] = [], z: number[] = [];
    for (const b of this.buckets) {
      const pts = b.lo === b.hi ? [b.lo] : b.lo.x < b.hi.x ? [b.lo, b.hi] : [b.hi, b.lo];
      for (const p of pts) {
        x.push(p.x);
        y.push(p.y);
        z.push(p.z);
      }
    }
    return { x, y, z };
  }

  private halve(): void {
    const merged: Bucket[] = [];
    for (let i = 0; i < this.buckets.length; i += 2) {
      const a = this.buckets[i], b = this.buckets[i + 1];
      if (!b) {
        merged.push(a);
        continue;
      }
      merged.push({ lo: b.lo.y < a.lo.y ? b.lo : a.lo, hi: b.hi.y > a.hi.y ? b.hi : a.hi, n: a.n + b.n });
    }
    this.buckets = merged;
    this.size *= 2;
  }
}
