import type { GpuRuntime } from '../gpu/runtime.ts';
import { Tensor } from '../tensor/tensor.ts';
import { GroupStats } from './group-stats.ts';
import { tileMoments } from './tile-kernels.ts';
import { rectArea, type Rect } from './tiles.ts';

/**
 * Collects, while a map is being written tile by tile, each tile's per-(image, group) moments in one small
 * GPU buffer, and reads it back once when the map is complete (one sync per map, not per tile).
 */
export class TileMomentsCollector {
  private readonly buffer: Tensor;

  constructor(
    readonly rt: GpuRuntime,
    readonly images: number,
    readonly channels: number,
    readonly groups: number,
    readonly rects: readonly Rect[],
  ) {
    this.buffer = Tensor.empty(rt, [rects.length, images * groups, 2], 'f32', 'validation', 'tile moments');
  }

  /** Records the moments of tile k (tile [images, C, h, w] of rects[k]). */
  add(tile: Tensor, k: number): void {
    tileMoments(tile, this.groups, this.buffer, k * this.images * this.groups);
  }

  /** The whole map's statistics; frees the buffer. */
  async finish(): Promise<GroupStats> {
    try {
      const moments = new Float32Array(await this.rt.read(this.buffer.buffer, this.buffer.bytes));
      const rows = this.images * this.groups;
      const stats = new GroupStats(rows);
      const perGroup = this.channels / this.groups;
      this.rects.forEach((r, k) => stats.addTile(moments, k * rows, perGroup * rectArea(r)));
      return stats;
    } finally {
      this.dispose();
    }
  }

  dispose(): void {
    this.buffer.dispose();
  }
}
