// Opens a dropped file with mediabunny (MP4, MOV, WebM, MKV) and tells what it holds, or why it
// cannot be used: the first step of ingest, before any decoder is configured.
// Timing comes from the packets themselves (metadata only, no media data read): presentation
// timestamps give the frame rate, variable-rate detection and where the video ends.
// Runs in a Worker (or a page); mediabunny's demuxing also runs in Node.
import {
  ALL_FORMATS,
  BlobSource,
  EncodedPacketSink,
  Input,
  MATROSKA,
  MP4,
  QTFF,
  WEBM,
  type InputAudioTrack,
  type InputVideoTrack,
} from 'mediabunny';
import { ClipError, codecName, REENCODE_HINT } from './clip-error.ts';
import type { Rotation } from './crop.ts';
import { frameRateOf } from './frame-times.ts';

export interface VideoInfo {
  codec: string | null;
  /** The codec string a VideoDecoder is configured with (e.g. avc1.64001e). */
  codecString: string | null;
  codedWidth: number;
  codedHeight: number;
  /** After rotation: the frame as the user sees it (and as face boxes are given). */
  displayWidth: number;
  displayHeight: number;
  rotation: Rotation;
  packets: number;
  /** Median frame rate from timestamps. */
  fps: number;
  variableFrameRate: boolean;
  /** First presentation timestamp and end of the last frame, microseconds. */
  startUs: number;
  endUs: number;
}

export interface AudioInfo {
  codec: string | null;
  codecString: string | null;
  sampleRate: number;
  channels: number;
  startUs: number;
}

export interface ClipProbe {
  container: 'mp4' | 'mov' | 'webm' | 'mkv' | string;
  bytes: number;
  mimeType: string;
  video: VideoInfo;
  audio: AudioInfo | null;
  /** Video duration (endUs - startUs), microseconds. */
  durationUs: number;
}

export interface OpenClip {
  input: Input;
  probe: ClipProbe;
  video: InputVideoTrack;
  audio: InputAudioTrack | null;
  dispose(): void;
}

function containerOf(format: unknown): string {
  if (format === MP4) return 'mp4';
  if (format === QTFF) return 'mov';
  if (format === WEBM) return 'webm';
  if (format === MATROSKA) return 'mkv';
  return (format as { name?: string })?.name ?? 'unknown';
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Opens `file` and probes it; throws ClipError with a user-facing reason when it cannot be used. */
export async function openClip(file: Blob, name = 'the file'): Promise<OpenClip> {
  if (file.size === 0) {
    throw new ClipError('empty-file', `${name} is empty (0 bytes).`, 'Pick the file again; if it was copied or downloaded, copy or download it again.');
  }
  const input = new Input({ source: new BlobSource(file), formats: ALL_FORMATS });
  try {
    const probe = await probeInput(input, file.size, name, file);
    const video = (await input.getPrimaryVideoTrack())!;
    const audio = await input.getPrimaryAudioTrack();
    return { input, probe, video, audio, dispose: () => input.dispose() };
  } catch (e) {
    input.dispose();
    throw e;
  }
}

/**
 * The top-level ISO BMFF boxes of a file (ftyp, moov, mdat, ...), read header by header, and
 * whether the last one runs past the end of the file.
 */
export async function topLevelBoxes(file: Blob): Promise<{ types: string[]; cut: boolean }> {
  const types: string[] = [];
  let at = 0;
  while (at + 8 <= file.size && types.length < 1000) {
    const head = new DataView(await file.slice(at, at + 16).arrayBuffer());
    let size = head.getUint32(0);
    const type = String.fromCharCode(head.getUint8(4), head.getUint8(5), head.getUint8(6), head.getUint8(7));
    if (size === 1 && head.byteLength >= 16) size = Number(head.getBigUint64(8));
    else if (size === 0) size = file.size - at; // to the end of the file
    types.push(type);
    if (size < 8) return { types, cut: true };
    if (at + size > file.size) return { types, cut: true };
    at += size;
  }
  return { types, cut: false };
}

async function probeInput(input: Input, bytes: number, name: string, file: Blob): Promise<ClipProbe> {
  let readable: boolean;
  try {
    readable = await input.canRead();
  } catch (e) {
    throw notReadable(name, bytes, e);
  }
  if (!readable) throw notReadable(name, bytes);
  const format = await input.getFormat();
  const container = containerOf(format);

  let video: InputVideoTrack | null, audio: InputAudioTrack | null;
  try {
    video = await input.getPrimaryVideoTrack();
    audio = await input.getPrimaryAudioTrack();
  } catch (e) {
    throw truncated(name, container, e);
  }
  if (!video && !audio) {
    // No tracks. An MP4/MOV whose index (moov) is there but empty holds a zero-length clip; one
    // without moov (often written last) was cut off; a WebM/MKV stopped inside its headers.
    if (container === 'mp4' || container === 'mov') {
      const boxes = await topLevelBoxes(file);
      if (boxes.types.includes('moov')) {
        throw new ClipError('no-frames', `${name} is a zero-length clip: its ${container.toUpperCase()} index lists no video or audio.`, 'Export the clip again with its frames; a clip needs at least one second of video.');
      }
      throw truncated(name, container, `no moov box (top-level boxes: ${boxes.types.join(', ') || 'none'}${boxes.cut ? `; the last one is cut at byte ${bytes}` : ''})`);
    }
    throw truncated(name, container, 'no tracks: the index of the media is missing');
  }
  if (!video) {
    throw new ClipError('no-video-track', `${name} has no video track${audio ? ' (it is audio only)' : ''}.`, 'Drop a video of a face talking: MP4, MOV, WebM or MKV.');
  }

  const vCodec = await video.getCodec();
  const timing = await packetTiming(video, name, container);
  if (timing.packets === 0) {
    throw new ClipError('no-frames', `${name} has a video track with no frames (zero length).`, 'Export the clip again with its frames; a clip needs at least one second of video.');
  }
  // the sample index may list packets past the end of the data: read the last one
  const last = await new EncodedPacketSink(video).getPacket(Infinity).catch(() => null);
  if (!last || last.data.byteLength === 0) {
    throw truncated(name, container, `the index lists ${timing.packets} frames but the last one's data is missing`);
  }
  const rotation = (((await video.getRotation()) % 360) + 360) % 360 as Rotation;
  const info: VideoInfo = {
    codec: vCodec,
    codecString: await video.getCodecParameterString().catch(() => null),
    codedWidth: await video.getCodedWidth(),
    codedHeight: await video.getCodedHeight(),
    displayWidth: await video.getDisplayWidth(),
    displayHeight: await video.getDisplayHeight(),
    rotation,
    ...timing,
  };
  let audioInfo: AudioInfo | null = null;
  if (audio) {
    const first = await new EncodedPacketSink(audio).getFirstPacket({ metadataOnly: true }).catch(() => null);
    audioInfo = {
      codec: await audio.getCodec(),
      codecString: await audio.getCodecParameterString().catch(() => null),
      sampleRate: await audio.getSampleRate(),
      channels: await audio.getNumberOfChannels(),
      startUs: first ? first.microsecondTimestamp : 0,
    };
  }
  return {
    container,
    bytes,
    mimeType: await input.getMimeType().catch(() => ''),
    video: info,
    audio: audioInfo,
    durationUs: info.endUs - info.startUs,
  };
}

/** Timestamps of every video packet (metadata only): rate, VFR and the end of the last frame. */
async function packetTiming(track: InputVideoTrack, name: string, container: string) {
  const pts: number[] = [];
  let endUs = -Infinity;
  try {
    for await (const p of new EncodedPacketSink(track).packets(undefined, undefined, { metadataOnly: true })) {
      pts.push(p.microsecondTimestamp);
      endUs = Math.max(endUs, p.microsecondTimestamp + p.microsecondDuration);
    }
  } catch (e) {
    throw truncated(name, container, e);
  }
  pts.sort((a, b) => a - b);
  const { fps, variable } = frameRateOf(pts);
  // a last packet without a duration ends one median interval after its start
  const last = pts[pts.length - 1] ?? 0;
  if (!(endUs > last) && fps > 0) endUs = last + Math.round(1e6 / fps);
  return { packets: pts.length, fps, variableFrameRate: variable, startUs: pts[0] ?? 0, endUs: Number.isFinite(endUs) ? endUs : 0 };
}

function notReadable(name: string, bytes: number, cause?: unknown): ClipError {
  return new ClipError(
    'not-a-video',
    `${name} is not a video file this app can read (${bytes} bytes; no MP4, MOV, WebM or MKV structure found).`,
    `Drop an MP4, MOV, WebM or MKV video. If it is one, it may be damaged: export it again, or re-encode it with: ${REENCODE_HINT}`,
    cause ? message(cause) : undefined,
  );
}

export function truncated(name: string, container: string, cause?: unknown): ClipError {
  return new ClipError(
    'truncated',
    `${name} is cut short: its ${container.toUpperCase()} data ends before the clip does (an interrupted download or copy?).`,
    'Download or copy the file again, or export it again from its source.',
    cause ? message(cause) : undefined,
  );
}

export function unsupportedVideo(name: string, codec: string | null, codecString: string | null): ClipError {
  return new ClipError(
    'unsupported-codec',
    `${name} is encoded with ${codecName(codec)}${codecString ? ` (${codecString})` : ''}, which this browser cannot decode.`,
    `Re-encode it to H.264 (or VP9/AV1), e.g. with: ${REENCODE_HINT}`,
  );
}
