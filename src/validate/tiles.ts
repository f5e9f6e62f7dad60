/**
 * Tile geometry of the exact tiled VAE: output tiles of a layer, and the input region (with its halo) a
 * convolution needs for one of them. Rectangles are half-open [y0, y1) x [x0, x1) in pixels of a layer's
 * own resolution; every tile keeps all images and channels of its chunk.
 */
export interface Rect {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

export const rectHeight = (r: Rect): number => r.y1 - r.y0;
export const rectWidth = (r: Rect): number => r.x1 - r.x0;
export const rectArea = (r: Rect): number => rectHeight(r) * rectWidth(r);
export const wholeRect = (h: number, w: number): Rect => ({ y0: 0, y1: h, x0: 0, x1: w });

/** Row-major tiles of edge `tile` over an h x w map; the last row and column take what is left. */
export function tileGrid(h: number, w: number, tile: number): Rect[] {
  if (!(Number.isInteger(tile) && tile >= 1)) throw new RangeError(`tile edge ${tile}: a positive integer`);
  const out: Rect[] = [];
  for (let y0 = 0; y0 < h; y0 += tile) {
    for (let x0 = 0; x0 < w; x0 += tile) out.push({ y0, y1: Math.min(h, y0 + tile), x0, x1: Math.min(w, x0 + tile) });
  }
  return out;
}

/** A square convolution's geometry: kernel, stride and zero padding [top, bottom, left, right]. */
export interface ConvGeometry {
  kernel: number;
  stride: number;
  padding: readonly [number, number, number, number];
}

export const padding4 = (p: number | readonly [number, number, number, number]): [number, number, number, number] =>
  typeof p === 'number' ? [p, p, p, p] : [p[0], p[1], p[2], p[3]];

/** Output size of a convolution along one axis (torch's formula). */
export const convOutSize = (n: number, k: number, stride: number, before: number, after: number): number =>
  Math.floor((n + before + after - k) / stride) + 1;

/**
 * The input region a convolution reads for output rows/cols `out`, clipped to the input (h x w), and the
 * zero padding that stands in for what was clipped: running the convolution on that region with that
 * padding yields exactly the outputs of `out`, because the whole-map convolution pads with zeros there too.
 */
export function convInputWindow(out: Rect, g: ConvGeometry, h: number, w: number): { rect: Rect; padding: [number, number, number, number] } {
  const [top, , left] = g.padding;
  const axis = (o0: number, o1: number, before: number, n: number): [number, number, number, number] => {
    const lo = o0 * g.stride - before;
    const hi = (o1 - 1) * g.stride - before + g.kernel;
    return [Math.max(0, lo), Math.min(n, hi), Math.max(0, -lo), Math.max(0, hi - n)];
  };
  const [y0, y1, pt, pb] = axis(out.y0, out.y1, top, h);
  const [x0, x1, pl, pr] = axis(out.x0, out.x1, left, w);
  return { rect: { y0, y1, x0, x1 }, padding: [pt, pb, pl, pr] };
}
