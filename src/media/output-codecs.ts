// Which file the lip-synced video becomes, decided by asking this browser's encoders
// (mediabunny's canEncodeVideo/canEncodeAudio call VideoEncoder/AudioEncoder.isConfigSupported):
// MP4 with H.264 and AAC where both encode, else WebM with VP9 (or AV1) and Opus. Debian's
// chromium encodes H.264 but not AAC, so there it is WebM. Worker-safe.
import { canEncodeAudio, canEncodeVideo, QUALITY_HIGH, type AudioCodec, type VideoCodec } from 'mediabunny';

export interface OutputChoice {
  container: 'mp4' | 'webm';
  videoCodec: VideoCodec;
  audioCodec: AudioCodec;
  /** The rate the audio is encoded at (the input's own when the encoder takes it). */
  sampleRate: number;
  numberOfChannels: number;
  extension: '.mp4' | '.webm';
}

export interface OutputRequest {
  width: number;
  height: number;
  fps: number;
  sampleRate: number;
  numberOfChannels: number;
}

/** Each container with the video codecs tried in order and its audio codec. */
const PLANS: readonly { container: OutputChoice['container']; video: readonly VideoCodec[]; audio: AudioCodec }[] = [
  { container: 'mp4', video: ['avc'], audio: 'aac' },
  { container: 'webm', video: ['vp9', 'av1'], audio: 'opus' },
];

// Opus encoders take 48 kHz (and a few lower rates); AAC encoders 44.1 or 48 kHz. Tried after the input's own.
const FALLBACK_RATE = 48000;

export class NoEncoderError extends Error {
  override readonly name = 'NoEncoderError';
}

/** The first plan whose video and audio both encode here; throws NoEncoderError naming what was tried. */
export async function chooseOutput(req: OutputRequest): Promise<OutputChoice> {
  if (typeof VideoEncoder === 'undefined' || typeof AudioEncoder === 'undefined') {
    throw new NoEncoderError('This browser has no WebCodecs encoders (VideoEncoder, AudioEncoder).');
  }
  const tried: string[] = [];
  for (const plan of PLANS) {
    const audio = await audioFormat(plan.audio, req);
    if (!audio) {
      tried.push(`${plan.audio} audio`);
      continue;
    }
    for (const videoCodec of plan.video) {
      const ok = await canEncodeVideo(videoCodec, { width: req.width, height: req.height, frameRate: req.fps, quality: QUALITY_HIGH }).catch(() => false);
      if (ok) return { container: plan.container, videoCodec, audioCodec: plan.audio, ...audio, extension: plan.container === 'mp4' ? '.mp4' : '.webm' };
      tried.push(`${videoCodec} ${req.width}x${req.height}`);
    }
  }
  throw new NoEncoderError(`This browser encodes none of: ${tried.join(', ')}.`);
}

async function audioFormat(codec: AudioCodec, req: OutputRequest): Promise<{ sampleRate: number; numberOfChannels: number } | null> {
  const channels = Math.min(2, Math.max(1, req.numberOfChannels));
  for (const sampleRate of new Set([req.sampleRate, FALLBACK_RATE])) {
    for (const numberOfChannels of new Set([channels, 2, 1])) {
      if (await canEncodeAudio(codec, { sampleRate, numberOfChannels, quality: QUALITY_HIGH }).catch(() => false)) return { sampleRate, numberOfChannels };
    }
  }
  return null;
}
