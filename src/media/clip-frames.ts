// A video clip's full frames at 25 fps, read by index without holding the clip decoded: the lip-sync
// engine's SyncFrameSource. Output frame k shows the input frame whose interval covers k / 25 s after
// the first frame (the dataset's retiming rule, src/data/frame-times.ts). mediabunny's VideoSampleSink
// decodes (WebCodecs) from the nearest key frame; a forward cursor streams through the clip, and the
// last WINDOW frames stay in memory so that a ping-pong loop reading backwards (n-1, n-2, ...)
// decodes once per WINDOW frames instead of once per frame.
// The full frame is needed (not the dataset's face crop, src/data/decode-video.ts): the engine
// composites the generated mouth back into it. Worker-safe.
import { VideoSampleSink, type InputVideoTrack, type VideoSample } from 'mediabunny';
import { rotateRgba } from '../data/crop.ts';
import { videoDecoderConfig } from '../data/decode-video.ts';
import type { VideoInfo } from '../data/demux.ts';
import { readRgba } from '../data/frame-pixels.ts';
import { outputFrameCount, outputTimeUs, TARGET_FPS } from '../data/frame-times.ts';
import type { SyncFrameSource } from '../sync/api.ts';

/** Decoded frames kept: one LatentSync chunk. */
export const WINDOW = 16;

export class ClipFrameSource implements SyncFrameSource {
  readonly width: number;
  readonly height: number;
  readonly frameCount: number;
  /** Times the decoder was (re)started: 1 for a forward pass, about frames / WINDOW more per backward lap. */
  seeks = 0;
  private readonly sink: VideoSampleSink;
  private readonly cache = new Map<number, Uint8Array>();
  private cursor: AsyncGenerator<VideoSample | null, void, unknown> | null = null;
  private cursorNext = 0; // the output frame the cursor yields next
  private lastRead = -1;

  private constructor(
    track: InputVideoTrack,
    private readonly info: VideoInfo,
    private readonly fps: number,
  ) {
    this.sink = new VideoSampleSink(track);
    this.width = info.displayWidth;
    this.height = info.displayHeight;
    this.frameCount = outputFrameCount(info.endUs - info.startUs, fps);
  }

  /** Checks that this browser decodes the track (a ClipError says what to do if not). */
  static async open(track: InputVideoTrack, info: VideoInfo, name: string, fps = TARGET_FPS): Promise<ClipFrameSource> {
    await videoDecoderConfig(track, info, name);
    return new ClipFrameSource(track, info, fps);
  }

  /** Frame `index` as RGBA (a copy the caller may change). */
  async read(index: number): Promise<Uint8Array> {
    if (!(Number.isInteger(index) && index >= 0 && index < this.frameCount)) throw new RangeError(`frame ${index} is outside 0..${this.frameCount - 1}`);
    const hit = this.cache.get(index);
    if (hit) return this.finishRead(index, hit);
    // forward within reach of the cursor: stream on; else restart it, a window back when reading backwards
    if (!this.cursor || index < this.cursorNext || index - this.cursorNext > 2 * WINDOW) {
      await this.restart(index < this.lastRead ? Math.max(0, index - WINDOW + 1) : index);
    }
    let rgba: Uint8Array | undefined;
    while (this.cursorNext <= index) rgba = await this.pull();
    return this.finishRead(index, rgba!);
  }

  /** Stops the decoder. */
  async close(): Promise<void> {
    await this.cursor?.return();
    this.cursor = null;
    this.cache.clear();
  }

  private finishRead(index: number, rgba: Uint8Array): Uint8Array {
    this.lastRead = index;
    return rgba.slice();
  }

  private async restart(from: number): Promise<void> {
    await this.cursor?.return();
    this.seeks++;
    this.cursorNext = from;
    const times = function* (this: ClipFrameSource) {
      for (let k = from; k < this.frameCount; k++) yield this.sampleTime(k);
    }.call(this);
    this.cursor = this.sink.samplesAtTimestamps(times);
  }

  /** Container time of output frame k, seconds. A microsecond past the grid point: a frame whose timestamp
   * lands exactly on it (a 25 fps clip) is found even when seconds do not add up exactly in floating point. */
  private sampleTime(k: number): number {
    return (this.info.startUs + outputTimeUs(k, this.fps) + 1) / 1e6;
  }

  private async pull(): Promise<Uint8Array> {
    const k = this.cursorNext;
    const { value: sample, done } = await this.cursor!.next();
    if (done || !sample) throw new Error(`the decoder gave no frame for ${(this.sampleTime(k) - this.info.startUs / 1e6).toFixed(3)} s (frame ${k})`);
    let rgba: Uint8Array;
    try {
      const frame = sample.toVideoFrame();
      try {
        const vr = frame.visibleRect!;
        rgba = await readRgba(frame, { x: 0, y: 0, width: vr.width, height: vr.height });
        if (this.info.rotation) rgba = new Uint8Array(rotateRgba(rgba, vr.width, vr.height, this.info.rotation).rgba);
      } finally {
        frame.close();
      }
    } finally {
      sample.close();
    }
    this.cache.set(k, rgba);
    // Maps iterate in insertion order: drop the frames decoded longest ago
    for (const old of this.cache.keys()) {
      if (this.cache.size <= WINDOW) break;
      this.cache.delete(old);
    }
    this.cursorNext++;
    return rgba;
  }
}
