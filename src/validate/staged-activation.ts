import type { GpuRuntime } from '../gpu/runtime.ts';
import { Tensor } from '../tensor/tensor.ts';
import { copyBox } from './tile-kernels.ts';
import { rectArea, rectHeight, rectWidth, wholeRect, type Rect } from './tiles.ts';

/** Host-side image data: f32 NCHW. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

interface Piece {
  rect: Rect;
  t: Tensor;
  /** First plane of this map's image 0 inside t (a view into a larger batch starts past plane 0). */
  plane0: number;
  owned: boolean;
}

type Where = { kind: 'gpu'; pieces: Piece[] } | { kind: 'host'; data: Float32Array | null; offset: number };

/**
 * One activation map [n, C, H, W] of the tiled walk, wherever it lives: on the GPU as the tiles that wrote
 * it (pieces, or one larger tensor it is a view of), or in host memory (read back tile by tile, uploaded
 * again tile by tile: the GPU then holds only the tiles in flight). fetch() assembles any rectangle, with
 * nearest 2x upsampling on the way where asked, as a fresh GPU tile; store() takes a finished tile.
 */
export class StagedActivation {
  private disposed = false;

  private constructor(
    readonly rt: GpuRuntime,
    readonly shape: readonly [number, number, number, number],
    readonly label: string,
    private readonly where: Where,
  ) {}

  /** Kept on the GPU, one piece per stored tile. */
  static onGpu(rt: GpuRuntime, shape: readonly [number, number, number, number], label: string): StagedActivation {
    return new StagedActivation(rt, shape, label, { kind: 'gpu', pieces: [] });
  }

  /**
   * Kept in host memory: `data` from `offset` (a view into a caller's batch), or a new array. The meta
   * device keeps no data: only the GPU side of the traffic is accounted.
   */
  static onHost(rt: GpuRuntime, shape: readonly [number, number, number, number], label: string, data?: Float32Array, offset = 0): StagedActivation {
    const own = rt.isMeta ? null : (data ?? new Float32Array(shape.reduce((a, b) => a * b, 1)));
    return new StagedActivation(rt, shape, label, { kind: 'host', data: own, offset: data ? offset : 0 });
  }

  /** A view of images [image0, image0 + n) of an existing GPU tensor (not owned: never freed here). */
  static view(t: Tensor, image0: number, images: number): StagedActivation {
    const [, c, h, w] = t.shape;
    const piece: Piece = { rect: wholeRect(h, w), t, plane0: image0 * c, owned: false };
    return new StagedActivation(t.rt, [images, c, h, w], `${t.toString()}[${image0}:${image0 + images}]`, { kind: 'gpu', pieces: [piece] });
  }

  get bytes(): number {
    return this.shape.reduce((a, b) => a * b, 4);
  }

  get onGpuSide(): boolean {
    return this.where.kind === 'gpu';
  }

  /** The region `rect` of the map, nearest-upsampled by `up` first (rect is then in the upsampled grid). */
  fetch(rect: Rect, up = 1): Tensor {
    this.check();
    const [n, c] = this.shape;
    const out = Tensor.empty(this.rt, [n, c, rectHeight(rect), rectWidth(rect)], 'f32', 'validation', `${this.label} tile`);
    if (this.where.kind === 'host') {
      if (this.where.data) this.rt.upload(out.buffer, this.hostCrop(this.where.data, this.where.offset, rect, up));
      return out;
    }
    let covered = 0;
    for (const p of this.where.pieces) {
      const y0 = Math.max(rect.y0, p.rect.y0 * up);
      const y1 = Math.min(rect.y1, p.rect.y1 * up);
      const x0 = Math.max(rect.x0, p.rect.x0 * up);
      const x1 = Math.min(rect.x1, p.rect.x1 * up);
      if (y0 >= y1 || x0 >= x1) continue;
      const src = { t: p.t, plane0: p.plane0, y: y0 - p.rect.y0 * up, x: x0 - p.rect.x0 * up };
      copyBox(src, { t: out, plane0: 0, y: y0 - rect.y0, x: x0 - rect.x0 }, n * c, y1 - y0, x1 - x0, up);
      covered += (y1 - y0) * (x1 - x0);
    }
    if (covered !== rectArea(rect)) throw new Error(`${this.label}: rectangle ${JSON.stringify(rect)} is not covered by stored tiles`);
    return out;
  }

  /** Takes a finished tile [n, C, h, w] of the region `rect` (the tile is owned from here on). */
  async store(rect: Rect, tile: Tensor): Promise<void> {
    this.check();
    const [n, c] = this.shape;
    if (tile.shape.join() !== [n, c, rectHeight(rect), rectWidth(rect)].join() || tile.dtype !== 'f32') {
      throw new Error(`${this.label}: tile [${tile.shape}] ${tile.dtype} for ${JSON.stringify(rect)}`);
    }
    if (this.where.kind === 'host') {
      try {
        const values = new Float32Array(await this.rt.read(tile.buffer, tile.bytes));
        if (this.where.data) this.hostPaste(this.where.data, this.where.offset, rect, values);
      } finally {
        tile.dispose();
      }
      return;
    }
    const view = this.where.pieces.find((p) => !p.owned);
    if (view) {
      copyBox({ t: tile, plane0: 0, y: 0, x: 0 }, { t: view.t, plane0: view.plane0, y: rect.y0, x: rect.x0 }, n * c, rectHeight(rect), rectWidth(rect));
      tile.dispose();
    } else {
      this.where.pieces.push({ rect, t: tile, plane0: 0, owned: true });
    }
  }

  /** Frees the pieces this map owns (host data is left to the garbage collector). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.where.kind === 'gpu') for (const p of this.where.pieces) if (p.owned) p.t.dispose();
  }

  private check(): void {
    if (this.disposed) throw new Error(`${this.label} was used after dispose()`);
  }

  private hostCrop(data: Float32Array, offset: number, rect: Rect, up: number): Float32Array {
    const [n, c, h, w] = this.shape;
    const [rh, rw] = [rectHeight(rect), rectWidth(rect)];
    const out = new Float32Array(n * c * rh * rw);
    const cols = Int32Array.from({ length: rw }, (_, j) => Math.floor((rect.x0 + j) / up));
    for (let p = 0; p < n * c; p++) {
      for (let i = 0; i < rh; i++) {
        const src = offset + (p * h + Math.floor((rect.y0 + i) / up)) * w;
        const dst = (p * rh + i) * rw;
        if (up === 1) out.set(data.subarray(src + rect.x0, src + rect.x1), dst);
        else for (let j = 0; j < rw; j++) out[dst + j] = data[src + cols[j]];
      }
    }
    return out;
  }

  private hostPaste(data: Float32Array, offset: number, rect: Rect, values: Float32Array): void {
    const [n, c, h, w] = this.shape;
    const [rh, rw] = [rectHeight(rect), rectWidth(rect)];
    for (let p = 0; p < n * c; p++) {
      for (let i = 0; i < rh; i++) {
        const src = (p * rh + i) * rw;
        data.set(values.subarray(src, src + rw), offset + (p * h + rect.y0 + i) * w + rect.x0);
      }
    }
  }
}
