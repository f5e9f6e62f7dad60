// Pixels out of a decoded VideoFrame: the face box, cropped, rotated upright and resized to the
// training resolution. Only the box's rows and columns are converted to RGBA (a 4K frame's full
// 33 MB never is). VideoFrame.copyTo with format "RGBA" converts YUV with the frame's own colour
// matrix; where a browser lacks that conversion an OffscreenCanvas draws the region instead.
// Worker-safe: no DOM beyond VideoFrame and OffscreenCanvas.
import { boxInCodedFrame, cropResizeRgba, rotateRgba, type FaceBox, type Rotation } from './crop.ts';

let copyToRgba: boolean | null = null; // learned on the first frame

/** The RGBA pixels of `rect` (in visibleRect coordinates) of a frame, tightly packed. */
export async function readRgba(frame: VideoFrame, rect: { x: number; y: number; width: number; height: number }): Promise<Uint8Array> {
  const out = new Uint8Array(rect.width * rect.height * 4);
  const vr = frame.visibleRect!;
  const abs = { x: vr.x + rect.x, y: vr.y + rect.y, width: rect.width, height: rect.height };
  if (copyToRgba !== false) {
    try {
      await frame.copyTo(out, { rect: abs, format: 'RGBA', colorSpace: 'srgb', layout: [{ offset: 0, stride: rect.width * 4 }] } as VideoFrameCopyToOptions);
      copyToRgba = true;
      return out;
    } catch (e) {
      if (copyToRgba === true) throw e; // it worked before: this is a real failure
      copyToRgba = false;
    }
  }
  const canvas = new OffscreenCanvas(rect.width, rect.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  // drawImage takes display-size coordinates; coded and display sizes agree for square pixels
  ctx.drawImage(frame, rect.x, rect.y, rect.width, rect.height, 0, 0, rect.width, rect.height);
  out.set(ctx.getImageData(0, 0, rect.width, rect.height).data);
  return out;
}

/**
 * The face box (display coordinates) of a frame as RGB [size, size, 3]. The region read is the box
 * in coded coordinates, widened to even edges so 4:2:0 chroma is sampled whole.
 */
export async function faceCrop(frame: VideoFrame, box: FaceBox, rotation: Rotation, size: number): Promise<Uint8Array> {
  const vw = frame.visibleRect!.width, vh = frame.visibleRect!.height;
  const coded = boxInCodedFrame(box, vw, vh, rotation);
  const x0 = coded.x & ~1, y0 = coded.y & ~1;
  const x1 = Math.min(vw, (coded.x + coded.size + 1) & ~1), y1 = Math.min(vh, (coded.y + coded.size + 1) & ~1);
  const rgba = await readRgba(frame, { x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  const local = { x: coded.x - x0, y: coded.y - y0, size: coded.size };
  if (rotation === 0) return cropResizeRgba(rgba, x1 - x0, y1 - y0, local, size);
  // rotate just the square crop upright, then resize it
  const square = new Uint8Array(coded.size * coded.size * 4);
  for (let r = 0; r < coded.size; r++) {
    const from = ((local.y + r) * (x1 - x0) + local.x) * 4;
    square.set(rgba.subarray(from, from + coded.size * 4), r * coded.size * 4);
  }
  const up = rotateRgba(square, coded.size, coded.size, rotation);
  return cropResizeRgba(up.rgba, up.width, up.height, { x: 0, y: 0, size: coded.size }, size);
}
