// Why a clip cannot become (part of) a dataset, in words a user can act on. Thrown by the decoders
// and the ingest pipeline; the worker passes code, message and action to the UI unchanged.

export type ClipErrorCode =
  | 'empty-file' // zero bytes
  | 'not-a-video' // no container we can read (or an audio-only file)
  | 'truncated' // the container or its media data is cut short
  | 'no-video-track'
  | 'no-frames' // a video track without a single decodable frame
  | 'unsupported-codec' // the browser cannot decode the video codec
  | 'decode-failed' // the decoder rejected the data
  | 'too-short' // fewer frames than a training sample needs
  | 'no-audio' // fine for the VAE, refused for the UNet
  | 'bad-options'
  | 'aborted';

export class ClipError extends Error {
  override readonly name = 'ClipError';
  constructor(
    readonly code: ClipErrorCode,
    message: string,
    /** What the user can do about it. */
    readonly action: string,
    readonly detail?: string,
  ) {
    super(message);
  }

  /** A structured-clone-safe copy (for postMessage / Comlink). */
  toJSON(): { code: ClipErrorCode; message: string; action: string; detail?: string } {
    return { code: this.code, message: this.message, action: this.action, ...(this.detail ? { detail: this.detail } : {}) };
  }
}

export function isClipError(x: unknown): x is ClipError {
  return x instanceof ClipError;
}

/** The ffmpeg line that re-encodes anything decodable into what every browser reads. */
export const REENCODE_HINT = 'ffmpeg -i INPUT -c:v libx264 -pix_fmt yuv420p -c:a aac -ar 48000 OUTPUT.mp4';

export const CODEC_NAMES: Record<string, string> = {
  avc: 'H.264',
  hevc: 'HEVC (H.265)',
  vp8: 'VP8',
  vp9: 'VP9',
  av1: 'AV1',
  prores: 'ProRes',
  aac: 'AAC',
  opus: 'Opus',
  mp3: 'MP3',
  vorbis: 'Vorbis',
  flac: 'FLAC',
  ac3: 'AC-3',
  eac3: 'E-AC-3',
  dts: 'DTS',
};

export function codecName(codec: string | null | undefined): string {
  if (!codec) return 'an unknown codec';
  return CODEC_NAMES[codec] ?? codec;
}
