/**
 * The files of `lab sync` (Node only): a Y4M file as a SyncFrameSource read frame by frame from disk (never
 * whole), retimed to 25 fps by timestamp, and a Y4M sink that writes OUT.tmp and renames it to OUT only when
 * every frame is in, so a cancelled or failed run leaves no half-written file. The sink starts from the input
 * frame's own bytes and converts back only the pixels lip sync changed: everything else is the input's bytes.
 * And the demo models' manifest (public/demo/demo-models.json), read for what sync needs.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { TokenWindow } from '../../data/audio-tokens.ts';
import type { MaskParams } from '../../data/mask.ts';
import type { AudioFeatureConfig } from '../../store/dataset-store.ts';
import { pingPongIndex, SYNC_FPS, type SyncFrameSink, type SyncFrameSource } from '../../sync/api.ts';
import { FRAME_MAGIC, formatY4mHeader, parseY4mHeader, rgbaToYuvOver, y4mFrameBytes, yuvToRgba, type Y4mHeader } from '../../sync/y4m.ts';

export interface Y4mInput extends SyncFrameSource {
  header: Y4mHeader;
  /** Frames in the file (at its own rate). */
  fileFrames: number;
  /** The planes of frame i at 25 fps (the file frame shown at i / 25 s). */
  readPlanes(index: number): Uint8Array;
  close(): void;
}

function readAt(fd: number, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** The line starting at `offset` (without its newline) and the offset after it. */
function readLine(fd: number, offset: number, path: string): { line: string; next: number } {
  const chunk = readAt(fd, offset, 4096);
  const nl = chunk.indexOf(10);
  if (nl < 0) throw new Error(`y4m: ${path} has no complete header line at byte ${offset}`);
  return { line: new TextDecoder().decode(chunk.subarray(0, nl)), next: offset + nl + 1 };
}

export function openY4m(path: string): Y4mInput {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const first = readLine(fd, 0, path);
    const header = parseY4mHeader(first.line);
    const frameBytes = y4mFrameBytes(header);
    // index the frames: each is a FRAME line (it may carry parameters) and the planes
    const offsets: number[] = [];
    for (let o = first.next; o < size; ) {
      const { line, next } = readLine(fd, o, path);
      if (!line.startsWith(FRAME_MAGIC)) throw new Error(`y4m: ${path}: expected FRAME at byte ${o}, found "${line.slice(0, 16)}"`);
      if (next + frameBytes > size) break; // a truncated last frame is left out
      offsets.push(next);
      o = next + frameBytes;
    }
    const fileFrames = offsets.length;
    const fileFps = header.fpsNum / header.fpsDen;
    // frame i at 25 fps shows the file frame on screen at i / 25 s
    const frameCount = fileFrames ? Math.max(1, Math.round((fileFrames * SYNC_FPS) / fileFps)) : 0;
    const fileIndex = (i: number) => Math.min(fileFrames - 1, Math.floor((i * fileFps) / SYNC_FPS + 1e-9));
    const readPlanes = (i: number) => readAt(fd, offsets[fileIndex(i)]!, frameBytes);
    return {
      header,
      fileFrames,
      width: header.width,
      height: header.height,
      frameCount,
      readPlanes,
      read: async (i) => yuvToRgba(header, readPlanes(i)),
      close: () => closeSync(fd),
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

export interface Y4mOutput extends SyncFrameSink {
  /** Closes OUT.tmp and renames it to OUT: call once every frame is written. */
  finish(): void;
  /** Closes and deletes OUT.tmp (after a cancel or a failure). */
  discard(): void;
}

/** Writes `out` (through out.tmp) at 25 fps; output frame k starts from the bytes of the input frame it shows. */
export function y4mOutput(out: string, input: Y4mInput): Y4mOutput {
  const tmp = `${out}.tmp`;
  const fd = openSync(tmp, 'w');
  let open = true;
  let next = 0;
  const header = input.header;
  writeSync(fd, formatY4mHeader(header, SYNC_FPS, 1));
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    async write(index, rgba) {
      if (index !== next) throw new Error(`y4m output: frame ${index} arrived, expected ${next}`);
      const planes = input.readPlanes(pingPongIndex(index, input.frameCount));
      writeSync(fd, `${FRAME_MAGIC}\n`);
      writeSync(fd, rgbaToYuvOver(header, rgba, planes, yuvToRgba(header, planes)));
      next++;
    },
    finish() {
      close();
      renameSync(tmp, out);
    },
    discard() {
      close();
      if (existsSync(tmp)) rmSync(tmp);
    },
  };
}

/** What sync takes from a models manifest (tools/demo/train-demo-models.ts writes public/demo/demo-models.json). */
export interface SyncManifest {
  unetFile?: string;
  vaeFile?: string;
  unetPreset?: string;
  vaePreset?: string;
  scalingFactor?: number;
  resolution?: number;
  mask?: MaskParams;
  audio?: { features: AudioFeatureConfig; window?: TokenWindow };
}

interface ManifestJson {
  resolution?: number;
  mask?: MaskParams;
  vae?: { preset?: string; file?: string; resolution?: number; scalingFactor?: number };
  unet?: { preset?: string; file?: string; resolution?: number; audio?: { features?: AudioFeatureConfig; window?: TokenWindow } };
}

/** Files a manifest names are found beside it, or relative to the folder the app serves it from (public/). */
function manifestFile(manifestPath: string, file: string): string {
  const dir = dirname(resolve(manifestPath));
  const found = [resolve(dir, file), resolve(dir, '..', file)].find((p) => existsSync(p));
  if (!found) throw new Error(`sync: the manifest ${manifestPath} names ${file}, which is neither beside it nor under ${resolve(dir, '..')}`);
  return found;
}

export function readSyncManifest(path: string): SyncManifest {
  const m = JSON.parse(readFileSync(path, 'utf8')) as ManifestJson;
  const features = m.unet?.audio?.features;
  return {
    unetFile: m.unet?.file ? manifestFile(path, m.unet.file) : undefined,
    vaeFile: m.vae?.file ? manifestFile(path, m.vae.file) : undefined,
    unetPreset: m.unet?.preset,
    vaePreset: m.vae?.preset,
    scalingFactor: m.vae?.scalingFactor,
    resolution: m.unet?.resolution ?? m.resolution ?? m.vae?.resolution,
    mask: m.mask,
    audio: features ? { features, window: m.unet?.audio?.window } : undefined,
  };
}
