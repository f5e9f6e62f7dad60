import tilesWgsl from '../../shaders/tiles.wgsl?raw';
import { offsetOf, window } from '../tensor/broadcast.ts';
import type { DType } from '../tensor/dtype.ts';
import { Tensor } from '../tensor/tensor.ts';
import { params, specialize } from '../tensor/wgsl.ts';

/**
 * Dispatch wrappers for shaders/tiles.wgsl. Tiles and pieces are f32 [n, C, h, w]; work is split by whole
 * planes (or groups) so that no binding passes maxStorageBufferBindingSize, whatever a piece's size.
 */
const WG = 64;
const sources = new Map<string, string>();

function source(weight: DType = 'f32', bias: DType = 'f32'): string {
  const key = `${weight}/${bias}`;
  let s = sources.get(key);
  if (!s) sources.set(key, (s = specialize(tilesWgsl, { weight, bias })));
  return s;
}

const spec = (entryPoint: string, src = source()) => ({ source: src, entryPoint, constants: { WG }, label: `tiles ${entryPoint}` });

/** Splits `count` units into runs whose bindings (as `fits` judges them) stay under the limit. */
function runs(count: number, fits: (start: number, n: number) => boolean, what: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let start = 0; start < count; ) {
    let n = count - start;
    while (n > 1 && !fits(start, n)) n = Math.ceil(n / 2);
    if (!fits(start, n)) throw new RangeError(`tiled VAE: one ${what} does not fit a storage binding`);
    out.push([start, n]);
    start += n;
  }
  return out;
}

const windowFits = (t: Tensor, lo: number, hi: number, limit: number): boolean => {
  const w = window(t, lo, hi).binding;
  return 'size' in w && w.size <= limit;
};

/** A box of `planes` planes x bh x bw: where it starts in a tensor [*, C, h, w] (plane, row, col). */
export interface BoxEnd {
  t: Tensor;
  plane0: number;
  y: number;
  x: number;
}

/**
 * dst[plane0 + p, y + i, x + j] = src[plane0 + p, (y + i) / up, (x + j) / up] for p < planes, i < bh,
 * j < bw: a crop (up 1), a paste, or a crop of the nearest-upsampled source (up 2; src.y and src.x are then
 * coordinates in the upsampled grid).
 */
export function copyBox(src: BoxEnd, dst: BoxEnd, planes: number, bh: number, bw: number, up = 1): void {
  const rt = dst.t.rt;
  const limit = rt.limits.maxStorageBufferBindingSize;
  const [sh, sw] = src.t.shape.slice(-2);
  const [dh, dw] = dst.t.shape.slice(-2);
  const srcRange = (p0: number, n: number): [number, number] => [
    (src.plane0 + p0) * sh * sw + Math.floor(src.y / up) * sw + Math.floor(src.x / up),
    (src.plane0 + p0 + n - 1) * sh * sw + Math.floor((src.y + bh - 1) / up) * sw + Math.floor((src.x + bw - 1) / up),
  ];
  const dstRange = (p0: number, n: number): [number, number] => [
    (dst.plane0 + p0) * dh * dw + dst.y * dw + dst.x,
    (dst.plane0 + p0 + n - 1) * dh * dw + (dst.y + bh - 1) * dw + dst.x + bw - 1,
  ];
  const fits = (p0: number, n: number) => windowFits(src.t, ...srcRange(p0, n), limit) && windowFits(dst.t, ...dstRange(p0, n), limit);
  for (const [p0, n] of runs(planes, fits, 'plane of a tile copy')) {
    const ws = window(src.t, ...srcRange(p0, n));
    const wd = window(dst.t, ...dstRange(p0, n));
    const count = n * bh * bw;
    const u = params([
      ['u32', count], ['u32', bh], ['u32', bw], ['u32', up],
      ['u32', sh], ['u32', sw], ['u32', src.plane0 + p0], ['u32', src.y],
      ['u32', src.x], ['u32', dh], ['u32', dw], ['u32', dst.plane0 + p0],
      ['u32', dst.y], ['u32', dst.x], ['u32', offsetOf(ws)], ['u32', offsetOf(wd)],
    ]);
    rt.dispatch(spec('copy_box'), [ws.binding, wd.binding], u, Math.ceil(count / WG));
  }
}

/**
 * GroupNorm of a tile x [n, C, h, w] with statistics given per (image, group): stats [n * groups, 2] holds
 * (mean, biased variance) reduced over the whole map, not over this tile. weight and bias [C] are the module's.
 */
export function normalizeTile(x: Tensor, weight: Tensor, bias: Tensor, stats: Tensor, groups: number, eps: number): Tensor {
  const rt = x.rt;
  const [n, c] = x.shape;
  const hw = x.numel / (n * c);
  const y = Tensor.empty(rt, x.shape, 'f32', 'validation', 'tile group norm');
  const limit = rt.limits.maxStorageBufferBindingSize;
  const range = (p0: number, k: number): [number, number] => [p0 * hw, (p0 + k) * hw - 1];
  const fits = (p0: number, k: number) => windowFits(x, ...range(p0, k), limit) && windowFits(y, ...range(p0, k), limit);
  const kernel = spec('normalize', source(weight.dtype, bias.dtype));
  for (const [p0, k] of runs(n * c, fits, 'plane of a tile norm')) {
    const [wx, wy] = [window(x, ...range(p0, k)), window(y, ...range(p0, k))];
    const u = params([
      ['u32', k * hw], ['u32', p0], ['u32', hw], ['u32', c],
      ['u32', c / groups], ['u32', offsetOf(wx)], ['u32', offsetOf(wy)], ['f32', eps],
    ]);
    const bindings = [wx.binding, window(weight).binding, window(bias).binding, window(stats).binding, wy.binding];
    rt.dispatch(kernel, bindings, u, Math.ceil((k * hw) / WG));
  }
  return y;
}

/**
 * (mean, M2) of every (image, group) of a tile x [n, C, h, w], written to out[slot + n * groups + g]
 * (pairs of f32): the partial statistics that group-stats.ts merges over all tiles.
 */
export function tileMoments(x: Tensor, groups: number, out: Tensor, slot: number): void {
  const rt = x.rt;
  const [n, c] = x.shape;
  const len = (x.numel / (n * c)) * (c / groups);
  const limit = rt.limits.maxStorageBufferBindingSize;
  const range = (g0: number, k: number): [number, number] => [g0 * len, (g0 + k) * len - 1];
  for (const [g0, k] of runs(n * groups, (g0, k) => windowFits(x, ...range(g0, k), limit), 'group of a tile')) {
    const wx = window(x, ...range(g0, k));
    const u = params([['u32', k], ['u32', len], ['u32', g0], ['u32', offsetOf(wx)], ['u32', slot + g0], ['u32', 0], ['u32', 0], ['u32', 0]]);
    rt.dispatch(spec('tile_moments'), [wx.binding, window(out).binding], u, k);
  }
}
