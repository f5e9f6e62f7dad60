// An audio track's span at its own rate and channel count, for the lip-synced file's audio track (the
// models hear the 16 kHz mono of src/data/decode-audio.ts; the listener should hear the original).
// Decoded samples are placed by timestamp on a timeline starting at originUs: what an edit list puts
// before it falls away and a gap stays silent. Worker-safe (mediabunny's AudioSampleSink, WebCodecs).
import { AudioSampleSink, type InputAudioTrack } from 'mediabunny';
import type { AudioPcm } from './video-file-writer.ts';

export async function decodeAudioPcm(track: InputAudioTrack, originUs: number, durationSeconds: number, signal?: AbortSignal): Promise<AudioPcm> {
  const sampleRate = await track.getSampleRate();
  const channels = await track.getNumberOfChannels();
  const length = Math.round(durationSeconds * sampleRate);
  const planes = Array.from({ length: channels }, () => new Float32Array(length));
  const origin = originUs / 1e6;
  const sink = new AudioSampleSink(track);
  for await (const sample of sink.samples(origin, origin + durationSeconds)) {
    try {
      if (signal?.aborted) break;
      const n = sample.numberOfFrames;
      const at = Math.round((sample.timestamp - origin) * sampleRate);
      const from = Math.max(0, -at), to = Math.min(n, length - at);
      if (to <= from) continue;
      const plane = new Float32Array(n);
      for (let c = 0; c < Math.min(channels, sample.numberOfChannels); c++) {
        sample.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
        planes[c]!.set(plane.subarray(from, to), at + from);
      }
    } finally {
      sample.close();
    }
  }
  return { sampleRate, planes };
}
