// Audio decoding with WebCodecs (AAC, Opus, MP3, Vorbis, FLAC, PCM: whatever the browser's
// AudioDecoder takes), then 16 kHz mono, the span of the video exactly.
// Decoded chunks are placed by timestamp on a timeline whose zero is the video's first frame:
// priming samples that an edit list puts before zero fall away, a gap becomes silence, and a
// chunk that starts within a few samples of where the previous one ended is taken as contiguous
// (microsecond timestamps round). A margin on both sides feeds the resampler's kernel real
// samples instead of zeros at the clip's edges.
// Worker-safe.
import { EncodedPacketSink, type InputAudioTrack } from 'mediabunny';
import { codecName } from './clip-error.ts';
import type { AudioInfo } from './demux.ts';
import { resample } from './resample.ts';

export const AUDIO_RATE = 16000;
const MARGIN_S = 0.02; // beyond the resampler's reach (64 zero crossings at 16 kHz: 4 ms)
const JITTER = 4; // samples

export interface AudioDecodeResult {
  /** 16 kHz mono, `outputSamples` long. */
  samples: Float32Array;
  sourceRate: number;
  sourceChannels: number;
  /** Share of the span that had decoded audio (the rest is silence). */
  coverage: number;
}

/** Why the audio cannot be used (the clip stays usable without it), or null when it can. */
export async function audioDecoderProblem(track: InputAudioTrack, info: AudioInfo): Promise<string | null> {
  const config = await track.getDecoderConfig();
  if (!config) return `its audio codec (${codecName(info.codec)}) is not one this app knows`;
  if (typeof AudioDecoder === 'undefined') return 'this browser has no WebCodecs audio decoder';
  const support = await AudioDecoder.isConfigSupported(config).catch(() => ({ supported: false }));
  return support.supported ? null : `this browser cannot decode its ${codecName(info.codec)} audio`;
}

/**
 * Decodes the audio between originUs and originUs + durationUs (container time) to 16 kHz mono of
 * exactly outputSamples samples.
 */
export async function decodeAudio(track: InputAudioTrack, originUs: number, outputSamples: number, signal?: AbortSignal): Promise<AudioDecodeResult> {
  const config = (await track.getDecoderConfig())!;
  const rate = config.sampleRate;
  const margin = Math.ceil(MARGIN_S * rate);
  const spanSamples = Math.ceil((outputSamples * rate) / AUDIO_RATE);
  const timeline = new Float32Array(margin + spanSamples + margin);
  const filled = new Uint8Array(timeline.length); // which samples got audio (for coverage)
  let expected = NaN; // where the next chunk would start if contiguous
  let channels = config.numberOfChannels;
  let error: Error | null = null;

  const place = (data: AudioData) => {
    try {
      const n = data.numberOfFrames;
      channels = data.numberOfChannels;
      const mono = new Float32Array(n);
      const plane = new Float32Array(n);
      for (let c = 0; c < channels; c++) {
        data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
        for (let i = 0; i < n; i++) mono[i] += plane[i]! / channels;
      }
      let at = Math.round(((data.timestamp - originUs) * rate) / 1e6) + margin;
      if (Number.isFinite(expected) && Math.abs(at - expected) <= JITTER) at = expected;
      expected = at + n;
      const from = Math.max(0, -at), to = Math.min(n, timeline.length - at);
      if (to > from) {
        timeline.set(mono.subarray(from, to), at + from);
        filled.fill(1, at + from, at + to);
      }
    } catch (e) {
      error ??= e instanceof Error ? e : new Error(String(e));
    } finally {
      data.close();
    }
  };

  const decoder = new AudioDecoder({ output: place, error: (e) => (error ??= e) });
  try {
    decoder.configure(config);
    const endUs = originUs + (spanSamples / rate) * 1e6 + MARGIN_S * 1e6;
    for await (const packet of new EncodedPacketSink(track).packets()) {
      if (signal?.aborted || error) break;
      if (packet.timestamp * 1e6 > endUs) break; // past the video: not needed
      decoder.decode(packet.toEncodedAudioChunk());
      while (decoder.decodeQueueSize > 16 && !error) await new Promise((r) => setTimeout(r, 2));
    }
    if (!error) await decoder.flush().catch((e) => (error ??= e));
  } finally {
    if (decoder.state !== 'closed') decoder.close();
  }
  if (error) throw error;

  // resample with the margin as context: output j sits at input margin + j * rate / 16000
  const resampled = resample(timeline, rate, AUDIO_RATE);
  const offset = Math.round((margin * AUDIO_RATE) / rate);
  const samples = new Float32Array(outputSamples);
  samples.set(resampled.subarray(offset, offset + outputSamples));
  let covered = 0;
  for (let i = margin; i < margin + spanSamples; i++) covered += filled[i]!;
  return { samples, sourceRate: rate, sourceChannels: channels, coverage: covered / spanSamples };
}
