/**
 * GroupNorm statistics over all tiles of a map. Each tile contributes, per (image, group), its element
 * count and the (mean, M2) the GPU computed in f32 over that tile alone (two passes: no cancellation).
 * They merge here in f64 with Chan et al.'s pairwise formula, so the result is the whole map's mean and
 * biased variance to f32 rounding, for any tiling, before any tile is normalized.
 */
export class GroupStats {
  private readonly count: Float64Array;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;

  /** `rows` = images x groups. */
  constructor(readonly rows: number) {
    this.count = new Float64Array(rows);
    this.mean = new Float64Array(rows);
    this.m2 = new Float64Array(rows);
  }

  /** Adds one tile: `moments` holds (mean, M2) pairs per row from `offset` (pairs), each over `count` elements. */
  addTile(moments: Float32Array, offset: number, count: number): void {
    for (let r = 0; r < this.rows; r++) {
      const tileMean = moments[2 * (offset + r)];
      const tileM2 = moments[2 * (offset + r) + 1];
      const n = this.count[r] + count;
      const d = tileMean - this.mean[r];
      this.mean[r] += (d * count) / n;
      this.m2[r] += tileM2 + (d * d * this.count[r] * count) / n;
      this.count[r] = n;
    }
  }

  /**
   * (mean, biased variance) pairs per row, rounded to f32 as the normalize kernel reads them: it takes
   * inverseSqrt(variance + eps) in f32 on the GPU, as the whole-map GroupNorm does.
   */
  meanVariance(): Float32Array {
    const out = new Float32Array(2 * this.rows);
    for (let r = 0; r < this.rows; r++) {
      out[2 * r] = this.mean[r];
      out[2 * r + 1] = this.count[r] > 0 ? Math.max(0, this.m2[r] / this.count[r]) : 0;
    }
    return out;
  }
}
