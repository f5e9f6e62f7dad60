// The square face box of a clip and the resize of that box to the training resolution.
// Boxes are in display pixels (after the track's rotation). The resize is separable: along an axis
// that shrinks, each output pixel is the area-weighted mean of the source pixels it covers (exact
// box filtering, so no aliasing however large the source: a 4K frame to 256 px averages 8x8
// blocks); along an axis that grows, it is bilinear with pixel centres aligned (half-pixel
// convention, edges clamped inside the box).
// No DOM: runs in the worker and in Node.

/** A square box in display pixels: top-left corner and side. */
export interface FaceBox {
  x: number;
  y: number;
  size: number;
}

export const MIN_BOX = 16;

/** The largest centred square: the default face box. */
export function centeredBox(width: number, height: number): FaceBox {
  const size = Math.min(width, height);
  return { x: Math.floor((width - size) / 2), y: Math.floor((height - size) / 2), size };
}

/**
 * A box made valid for a frame: integer, at least MIN_BOX (or the frame's short side when that is
 * smaller), at most the short side, moved inside the frame without changing its size.
 */
export function clampBox(box: FaceBox, width: number, height: number): FaceBox {
  const short = Math.min(width, height);
  const size = Math.max(Math.min(MIN_BOX, short), Math.min(short, Math.round(box.size)));
  const x = Math.min(Math.max(0, Math.round(box.x)), width - size);
  const y = Math.min(Math.max(0, Math.round(box.y)), height - size);
  return { x, y, size };
}

/** Sparse weights of one axis: output o reads source start[o] .. start[o] + count[o] - 1. */
export interface AxisWeights {
  start: Int32Array;
  count: Int32Array;
  /** [outSize][maxCount] */
  weights: Float32Array;
  maxCount: number;
}

/** Weights that map source pixels [from, from + length) onto `outSize` pixels. */
export function axisWeights(from: number, length: number, outSize: number): AxisWeights {
  const scale = length / outSize;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const lists: { s: number; w: number[] }[] = [];
  for (let o = 0; o < outSize; o++) {
    if (scale >= 1) {
      // area: overlap of [a, b) with each source pixel [i, i + 1), divided by the span
      const a = o * scale, b = (o + 1) * scale;
      const i0 = Math.floor(a), i1 = Math.min(length, Math.ceil(b));
      const w: number[] = [];
      for (let i = i0; i < i1; i++) w.push((Math.min(b, i + 1) - Math.max(a, i)) / scale);
      lists.push({ s: from + i0, w });
    } else {
      // bilinear, centres aligned, clamped to the box
      const c = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), length - 1);
      const i0 = Math.floor(c), f = c - i0;
      lists.push(f > 0 && i0 + 1 < length ? { s: from + i0, w: [1 - f, f] } : { s: from + i0, w: [1] });
    }
  }
  const maxCount = Math.max(...lists.map((l) => l.w.length));
  const weights = new Float32Array(outSize * maxCount);
  lists.forEach((l, o) => {
    start[o] = l.s;
    count[o] = l.w.length;
    l.w.forEach((w, k) => (weights[o * maxCount + k] = w));
  });
  return { start, count, weights, maxCount };
}

/**
 * Crops `box` out of an RGBA frame (row-major, 4 bytes a pixel, `stride` bytes a row) and resizes
 * it to size x size. Returns RGB, row-major [size, size, 3].
 */
export function cropResizeRgba(
  rgba: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  box: FaceBox,
  size: number,
  stride = width * 4,
): Uint8Array {
  if (box.x < 0 || box.y < 0 || box.x + box.size > width || box.y + box.size > height) {
    throw new RangeError(`cropResizeRgba: box ${JSON.stringify(box)} is outside the ${width}x${height} frame`);
  }
  const wx = axisWeights(box.x, box.size, size);
  const wy = axisWeights(box.y, box.size, size);
  // horizontal pass over the box's rows: [box.size rows][size][3] floats
  const tmp = new Float32Array(box.size * size * 3);
  for (let r = 0; r < box.size; r++) {
    const rowBase = (box.y + r) * stride;
    for (let o = 0; o < size; o++) {
      let R = 0, G = 0, B = 0;
      const s = wx.start[o]!, n = wx.count[o]!, wb = o * wx.maxCount;
      for (let k = 0; k < n; k++) {
        const w = wx.weights[wb + k]!;
        const p = rowBase + (s + k) * 4;
        R += rgba[p]! * w;
        G += rgba[p + 1]! * w;
        B += rgba[p + 2]! * w;
      }
      const t = (r * size + o) * 3;
      tmp[t] = R;
      tmp[t + 1] = G;
      tmp[t + 2] = B;
    }
  }
  // vertical pass
  const out = new Uint8Array(size * size * 3);
  for (let o = 0; o < size; o++) {
    const s = wy.start[o]! - box.y, n = wy.count[o]!, wb = o * wy.maxCount;
    for (let c = 0; c < size * 3; c++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += tmp[(s + k) * size * 3 + c]! * wy.weights[wb + k]!;
      out[o * size * 3 + c] = Math.min(255, Math.max(0, Math.round(acc)));
    }
  }
  return out;
}

export type Rotation = 0 | 90 | 180 | 270;

/** Rotates an RGBA image clockwise; returns the new image and its size. */
export function rotateRgba(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number, rotation: Rotation) {
  if (rotation === 0) return { rgba, width, height };
  const src = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);
  const w2 = rotation === 180 ? width : height, h2 = rotation === 180 ? height : width;
  const dst = new Uint32Array(w2 * h2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let X: number, Y: number;
      if (rotation === 90) { X = height - 1 - y; Y = x; }
      else if (rotation === 180) { X = width - 1 - x; Y = height - 1 - y; }
      else { X = y; Y = width - 1 - x; }
      dst[Y * w2 + X] = src[y * width + x]!;
    }
  }
  return { rgba: new Uint8Array(dst.buffer), width: w2, height: h2 };
}

/** Where a display-space box lies in the coded (unrotated) frame, for a clockwise rotation. */
export function boxInCodedFrame(box: FaceBox, codedWidth: number, codedHeight: number, rotation: Rotation): FaceBox {
  const { x, y, size } = box;
  switch (rotation) {
    case 0: return box;
    case 90: return { x: y, y: codedHeight - x - size, size };
    case 180: return { x: codedWidth - x - size, y: codedHeight - y - size, size };
    case 270: return { x: codedWidth - y - size, y: x, size };
  }
}

/** RGB [size, size, 3] bytes to float CHW [3, size, size] in [-1, 1], as the VAE takes them. */
export function rgbToChw(rgb: Uint8Array, size: number, out = new Float32Array(3 * size * size)): Float32Array {
  const hw = size * size;
  for (let p = 0; p < hw; p++) {
    out[p] = rgb[p * 3]! / 127.5 - 1;
    out[hw + p] = rgb[p * 3 + 1]! / 127.5 - 1;
    out[2 * hw + p] = rgb[p * 3 + 2]! / 127.5 - 1;
  }
  return out;
}
