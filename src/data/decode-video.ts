// Video decoding with WebCodecs (H.264, VP8, VP9, AV1, and whatever else the browser's
// VideoDecoder takes), packets from mediabunny, frames retimed to 25 fps as they come out.
// Each decoded frame is held until the next one arrives: only then is its interval known, and so
// which output frames it covers. Covered frames are cropped and resized once and handed on; the
// rest are closed unread (a 30 fps clip skips one frame in six without converting it).
// Worker-safe.
import { EncodedPacketSink, type InputVideoTrack } from 'mediabunny';
import { ClipError } from './clip-error.ts';
import type { FaceBox } from './crop.ts';
import type { VideoInfo } from './demux.ts';
import { truncated, unsupportedVideo } from './demux.ts';
import { faceCrop } from './frame-pixels.ts';
import { FrameRetimer, TARGET_FPS } from './frame-times.ts';

export interface VideoDecodeOptions {
  /** The square face box in display pixels. */
  box: FaceBox;
  /** Training resolution (output frames are size x size RGB). */
  size: number;
  fps?: number;
  signal?: AbortSignal;
  /** File name, for messages. */
  name?: string;
  container?: string;
}

export interface VideoDecodeResult {
  /** Output frames delivered (at `fps`). */
  frames: number;
  /** Input frames decoded. */
  decoded: number;
  /** Packets sent to the decoder. */
  packets: number;
}

/** Output frame k as RGB [size, size, 3]; awaited before the next frame is produced. */
export type FrameHandler = (k: number, rgb: Uint8Array) => void | Promise<void>;

const MAX_QUEUE = 8; // packets in the decoder's queue before we wait

/** Checks that this browser decodes the track (VideoDecoder.isConfigSupported); throws ClipError if not. */
export async function videoDecoderConfig(track: InputVideoTrack, info: VideoInfo, name: string): Promise<VideoDecoderConfig> {
  const config = await track.getDecoderConfig();
  if (!config) throw unsupportedVideo(name, info.codec, info.codecString);
  if (typeof VideoDecoder === 'undefined') {
    throw new ClipError('unsupported-codec', 'This browser has no WebCodecs video decoder.', 'Use a recent Chromium-based browser (Chrome, Edge) or Firefox 130+.');
  }
  const support = await VideoDecoder.isConfigSupported(config).catch(() => ({ supported: false }));
  if (!support.supported) throw unsupportedVideo(name, info.codec, config.codec);
  return config;
}

export async function decodeVideo(track: InputVideoTrack, info: VideoInfo, opts: VideoDecodeOptions, onFrame: FrameHandler): Promise<VideoDecodeResult> {
  const name = opts.name ?? 'the clip';
  const fps = opts.fps ?? TARGET_FPS;
  const config = await videoDecoderConfig(track, info, name);
  const retimer = new FrameRetimer(fps);

  let held: VideoFrame | null = null;
  let heldEnd = 0; // where the held frame ends if nothing follows it
  let decoderError: Error | null = null;
  let decoded = 0;
  let delivered = 0;
  // frames are handled strictly in order, one at a time; the decoder waits while this chain is long
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;

  const emit = async (frame: VideoFrame, ks: number[]) => {
    if (!ks.length) return;
    const rgb = await faceCrop(frame, opts.box, info.rotation, opts.size);
    for (const k of ks) {
      await onFrame(k, rgb);
      delivered++;
    }
  };

  const handle = async (frame: VideoFrame) => {
    try {
      decoded++;
      const ks = retimer.push(frame.timestamp);
      const prev = held;
      held = frame;
      heldEnd = frame.timestamp + (frame.duration ?? 0);
      if (prev) {
        try {
          await emit(prev, ks);
        } finally {
          prev.close();
        }
      }
    } catch (e) {
      decoderError ??= e instanceof Error ? e : new Error(String(e));
    }
  };

  const decoder = new VideoDecoder({
    output: (frame) => {
      if (decoderError || opts.signal?.aborted) {
        frame.close();
        return;
      }
      pending++;
      chain = chain.then(() => handle(frame)).finally(() => pending--);
    },
    error: (e) => {
      decoderError ??= e;
    },
  });

  let packets = 0;
  try {
    decoder.configure(config);
    const sink = new EncodedPacketSink(track);
    for await (const packet of sink.packets()) {
      if (opts.signal?.aborted) throw new ClipError('aborted', `Adding ${name} was cancelled.`, 'Add it again when you want it.');
      if (decoderError) break;
      decoder.decode(packet.toEncodedVideoChunk());
      packets++;
      // back-pressure: let the decoder and the frame handler catch up. A timer, not a promise
      // that may already be settled: the decoder's outputs arrive as tasks, which a loop of
      // microtasks would starve.
      while (!decoderError && (decoder.decodeQueueSize > MAX_QUEUE || pending > 2)) {
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    if (!decoderError) await decoder.flush().catch((e) => (decoderError ??= e));
    await chain;
    if (decoderError) throw decodeFailure(name, decoderError);
    if (packets < info.packets) {
      throw truncated(name, opts.container ?? 'video', `${packets} of ${info.packets} frames have data`);
    }
    if (held) {
      // the last frame lasts to the end the container gives (or its own duration)
      const end = Math.max(heldEnd, info.endUs);
      const last: VideoFrame = held;
      held = null;
      try {
        await emit(last, retimer.finish(end));
      } finally {
        last.close();
      }
    }
    if (delivered === 0) {
      throw new ClipError('no-frames', `${name}: the decoder gave no frames (${packets} packets sent).`, 'The video data may be damaged: export it again, or re-encode it to H.264.');
    }
    return { frames: delivered, decoded, packets };
  } finally {
    if (decoder.state !== 'closed') decoder.close();
    (held as VideoFrame | null)?.close();
  }
}

function decodeFailure(name: string, e: Error): ClipError {
  if (e instanceof ClipError) return e;
  return new ClipError(
    'decode-failed',
    `The video decoder could not decode ${name}: ${e.message}`,
    'The video data may be damaged or use a profile this browser lacks: re-encode it to H.264 (ffmpeg -i INPUT -c:v libx264 -pix_fmt yuv420p OUTPUT.mp4).',
    e.stack,
  );
}
