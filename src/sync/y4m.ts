// YUV4MPEG2 (.y4m), the raw video format ffmpeg reads and writes with no codec, so the lip-sync CLI stays
// dependency-free: `ffmpeg -i any.mp4 -pix_fmt yuv420p in.y4m`, and back with `ffmpeg -i out.y4m out.mp4`.
// Header: "YUV4MPEG2 W<w> H<h> F<num>:<den> [I.] [A.] [C<space>] [X...]\n"; each frame: "FRAME[ params]\n"
// then the Y, U, V planes (8 bit). Colour: BT.601, limited range unless the header says XCOLORRANGE=FULL,
// as ffmpeg converts y4m by default.
// Pure byte handling, no file system: src/cli/verbs/sync-files.ts reads and writes the files.
// No DOM.

export type Y4mChroma = '420' | '444';

export interface Y4mHeader {
  width: number;
  height: number;
  fpsNum: number;
  fpsDen: number;
  chroma: Y4mChroma;
  /** The C tag as written (420jpeg, 420mpeg2, 420paldv, 420, 444): kept for the output. */
  colorspaceTag: string;
  fullRange: boolean;
  /** Every header token after the magic, in order, to write back what we do not interpret. */
  tokens: string[];
}

export const Y4M_MAGIC = 'YUV4MPEG2';
export const FRAME_MAGIC = 'FRAME';

function bad(what: string): never {
  throw new Error(`y4m: ${what}. Convert the video with: ffmpeg -i IN -pix_fmt yuv420p -r 25 OUT.y4m`);
}

/** Parses the header line (without its newline). */
export function parseY4mHeader(line: string): Y4mHeader {
  const [magic, ...tokens] = line.trim().split(/ +/);
  if (magic !== Y4M_MAGIC) bad(`not a YUV4MPEG2 file (it starts with "${line.slice(0, 12)}")`);
  let width = 0, height = 0, fpsNum = 25, fpsDen = 1, colorspaceTag = '420jpeg', fullRange = false;
  for (const t of tokens) {
    const v = t.slice(1);
    switch (t[0]) {
      case 'W': width = Number(v); break;
      case 'H': height = Number(v); break;
      case 'F': [fpsNum, fpsDen] = v.split(':').map(Number) as [number, number]; break;
      case 'C': colorspaceTag = v; break;
      case 'I': if (v !== 'p' && v !== '?') bad(`interlaced video (I${v}) is not supported`); break;
      case 'X': if (v === 'COLORRANGE=FULL') fullRange = true; break;
    }
  }
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) bad(`the header gives no frame size (W${width} H${height})`);
  if (!(fpsNum > 0 && fpsDen > 0)) bad(`frame rate F${fpsNum}:${fpsDen} is not a rate`);
  let chroma: Y4mChroma;
  if (/^420(jpeg|mpeg2|paldv)?$/.test(colorspaceTag)) chroma = '420';
  else if (colorspaceTag === '444') chroma = '444';
  else bad(`colour space C${colorspaceTag} is not supported (8-bit C420 or C444 are)`);
  if (chroma === '420' && (width % 2 || height % 2)) bad(`a 4:2:0 frame needs an even size, got ${width}x${height}`);
  return { width, height, fpsNum, fpsDen, chroma, colorspaceTag, fullRange, tokens };
}

/** The header line (with its newline) for a file of `h`'s size and colour at another frame rate. */
export function formatY4mHeader(h: Y4mHeader, fpsNum = h.fpsNum, fpsDen = h.fpsDen): string {
  const tokens = h.tokens.filter((t) => t[0] !== 'F');
  return `${Y4M_MAGIC} ${[...tokens, `F${fpsNum}:${fpsDen}`].join(' ')}\n`;
}

/** Bytes of one frame's planes (after its FRAME line). */
export function y4mFrameBytes(h: Y4mHeader): number {
  const luma = h.width * h.height;
  return h.chroma === '420' ? luma + 2 * (luma / 4) : 3 * luma;
}

const KR = 0.299, KB = 0.114, KG = 1 - KR - KB;

/** Planes of one frame -> RGBA (alpha 255). */
export function yuvToRgba(h: Y4mHeader, yuv: Uint8Array, out = new Uint8Array(h.width * h.height * 4)): Uint8Array {
  const { width: w, height: ht } = h;
  const cw = h.chroma === '420' ? w / 2 : w;
  const uBase = w * ht, vBase = uBase + cw * (h.chroma === '420' ? ht / 2 : ht);
  const ys = h.fullRange ? 1 / 255 : 1 / 219, y0 = h.fullRange ? 0 : 16;
  const cs = h.fullRange ? 1 / 255 : 1 / 224;
  for (let y = 0; y < ht; y++) {
    const cy = h.chroma === '420' ? y >> 1 : y;
    for (let x = 0; x < w; x++) {
      const ci = cy * cw + (h.chroma === '420' ? x >> 1 : x);
      const Y = (yuv[y * w + x]! - y0) * ys;
      const pb = (yuv[uBase + ci]! - 128) * cs, pr = (yuv[vBase + ci]! - 128) * cs;
      const r = Y + 2 * (1 - KR) * pr;
      const b = Y + 2 * (1 - KB) * pb;
      const g = (Y - KR * r - KB * b) / KG;
      const p = (y * w + x) * 4;
      out[p] = clampByte(r * 255);
      out[p + 1] = clampByte(g * 255);
      out[p + 2] = clampByte(b * 255);
      out[p + 3] = 255;
    }
  }
  return out;
}

const clampByte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** One RGB pixel (bytes) -> [Y, Cb, Cr] in the header's range, unrounded. */
function rgbToYcc(h: Y4mHeader, r: number, g: number, b: number): [number, number, number] {
  const R = r / 255, G = g / 255, B = b / 255;
  const Y = KR * R + KG * G + KB * B;
  const pb = (B - Y) / (2 * (1 - KB)), pr = (R - Y) / (2 * (1 - KR));
  return h.fullRange ? [Y * 255, 128 + pb * 255, 128 + pr * 255] : [16 + Y * 219, 128 + pb * 224, 128 + pr * 224];
}

/** RGBA -> the frame's planes (4:2:0 chroma: the mean of each 2x2 block). */
export function rgbaToYuv(h: Y4mHeader, rgba: Uint8Array): Uint8Array {
  return convertOver(h, rgba, new Uint8Array(y4mFrameBytes(h)), () => true);
}

/**
 * The output frame's planes: a copy of the input's planes (`original`, whose RGBA is `originalRgba`) where
 * only the pixels the RGBA output changed are converted back (for 4:2:0, a chroma sample is recomputed, as
 * the mean of its 2x2 block, when any pixel of the block changed). Unchanged pixels keep the input's bytes.
 */
export function rgbaToYuvOver(h: Y4mHeader, rgba: Uint8Array, original: Uint8Array, originalRgba: Uint8Array): Uint8Array {
  const differs = (p: number) => rgba[p] !== originalRgba[p] || rgba[p + 1] !== originalRgba[p + 1] || rgba[p + 2] !== originalRgba[p + 2];
  return convertOver(h, rgba, original.slice(), differs);
}

function convertOver(h: Y4mHeader, rgba: Uint8Array, out: Uint8Array, convert: (p: number) => boolean): Uint8Array {
  const { width: w, height: ht } = h;
  if (rgba.length !== w * ht * 4) throw new RangeError(`y4m: ${rgba.length} RGBA bytes for a ${w}x${ht} frame`);
  const sub = h.chroma === '420' ? 2 : 1;
  const cw = w / sub, ch = ht / sub;
  const uBase = w * ht, vBase = uBase + cw * ch;
  for (let cy = 0; cy < ch; cy++) {
    for (let cx = 0; cx < cw; cx++) {
      let changed = false, sb = 0, sr = 0;
      for (let dy = 0; dy < sub; dy++) {
        for (let dx = 0; dx < sub; dx++) {
          const x = cx * sub + dx, y = cy * sub + dy, p = (y * w + x) * 4;
          const [Y, cb, cr] = rgbToYcc(h, rgba[p]!, rgba[p + 1]!, rgba[p + 2]!);
          if (convert(p)) {
            out[y * w + x] = clampByte(Y);
            changed = true;
          }
          sb += cb;
          sr += cr;
        }
      }
      if (changed) {
        out[uBase + cy * cw + cx] = clampByte(sb / (sub * sub));
        out[vBase + cy * cw + cx] = clampByte(sr / (sub * sub));
      }
    }
  }
  return out;
}
