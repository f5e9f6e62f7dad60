// What a lip-sync run reads: the video's frames (streamed, src/media/clip-frames.ts) and the audio it is
// synced to, from the video's own track or a separate file (WAV included: mediabunny decodes PCM itself),
// decoded once at its own rate and channels for the output file, and brought to 16 kHz mono for the
// models with the dataset's mix and resampler (downmixToMono, resample: what src/data/decode-audio.ts does).
// The audio sets the output's length; a video shorter than it loops (the engine's ping-pong).
// Refusals are ClipErrors with what to do. Worker-safe.
import { ALL_FORMATS, BlobSource, Input, type InputAudioTrack } from 'mediabunny';
import { ClipError, codecName } from '../data/clip-error.ts';
import { AUDIO_RATE } from '../data/decode-audio.ts';
import { openClip, type ClipProbe } from '../data/demux.ts';
import { downmixToMono, resample } from '../data/resample.ts';
import { ClipFrameSource } from './clip-frames.ts';
import { decodeAudioPcm } from './audio-pcm.ts';
import type { AudioPcm } from './video-file-writer.ts';

export interface SyncInputOptions {
  videoName?: string;
  audioName?: string;
  /** Use only the first this many seconds of the audio (a quick preview). */
  maxSeconds?: number;
  signal?: AbortSignal;
}

export interface SyncInput {
  video: ClipFrameSource;
  probe: ClipProbe;
  /** Where the audio came from. */
  audioFrom: 'video' | 'file';
  /** The audio span used, seconds. */
  audioSeconds: number;
  /** 16 kHz mono: what the models hear. */
  samples: Float32Array;
  /** Original rate and channels: what the output file carries. */
  pcm: AudioPcm;
  close(): Promise<void>;
}

export async function openSyncInput(videoFile: Blob, audioFile: Blob | null, opts: SyncInputOptions = {}): Promise<SyncInput> {
  const videoName = opts.videoName ?? ((videoFile as File).name || 'the video');
  const clip = await openClip(videoFile, videoName);
  let audioInput: Input | null = null;
  let video: ClipFrameSource | null = null;
  try {
    video = await ClipFrameSource.open(clip.video, clip.probe.video, videoName);
    let track: InputAudioTrack, originUs: number, endS: number, name: string;
    if (audioFile) {
      name = opts.audioName ?? ((audioFile as File).name || 'the audio file');
      audioInput = new Input({ source: new BlobSource(audioFile), formats: ALL_FORMATS });
      track = await audioTrackOf(audioInput, name);
      originUs = Math.round((await track.getFirstTimestamp()) * 1e6);
      endS = await track.computeDuration();
    } else {
      name = videoName;
      if (!clip.audio) {
        throw new ClipError('no-audio', `${videoName} has no audio track, and lip sync follows audio.`, 'Pick an audio file (WAV, MP3, M4A, Opus, ...) to sync the video to, or a video that has sound.');
      }
      track = clip.audio;
      originUs = clip.probe.video.startUs; // the clip's time zero is its first frame, as in the dataset
      endS = await track.computeDuration();
    }
    if (!(await track.canDecode().catch(() => false))) {
      throw new ClipError('unsupported-codec', `This browser cannot decode the ${codecName(await track.getCodec())} audio of ${name}.`, 'Convert it to AAC, Opus or WAV, e.g. ffmpeg -i INPUT -c:a aac OUTPUT.m4a');
    }
    let seconds = endS - originUs / 1e6;
    if (opts.maxSeconds !== undefined && opts.maxSeconds > 0) seconds = Math.min(seconds, opts.maxSeconds);
    if (!(seconds >= 0.04)) {
      throw new ClipError('too-short', `The audio of ${name} lasts ${Math.max(0, seconds * 1000).toFixed(0)} ms; lip sync needs at least one frame (40 ms).`, 'Use audio with speech in it, at least a second long.');
    }
    const pcm = await decodeAudioPcm(track, originUs, seconds, opts.signal);
    if (opts.signal?.aborted) throw new ClipError('aborted', 'Lip sync was cancelled.', 'Start it again when you want it.');
    const samples = resample(downmixToMono(pcm.planes), pcm.sampleRate, AUDIO_RATE).subarray(0, Math.round(seconds * AUDIO_RATE));
    const frames = video;
    const input = audioInput;
    return {
      video: frames,
      probe: clip.probe,
      audioFrom: audioFile ? 'file' : 'video',
      audioSeconds: seconds,
      samples,
      pcm,
      async close() {
        await frames.close();
        input?.dispose();
        clip.dispose();
      },
    };
  } catch (e) {
    await video?.close().catch(() => undefined);
    audioInput?.dispose();
    clip.dispose();
    throw e;
  }
}

async function audioTrackOf(input: Input, name: string): Promise<InputAudioTrack> {
  let readable = false;
  try {
    readable = await input.canRead();
  } catch {
    readable = false;
  }
  if (!readable) throw new ClipError('not-a-video', `${name} is not an audio or video file this app can read.`, 'Pick a WAV, MP3, M4A (AAC), Ogg/WebM (Opus) or a video with sound.');
  const track = await input.getPrimaryAudioTrack();
  if (!track) throw new ClipError('no-audio', `${name} has no audio track.`, 'Pick a file with sound in it.');
  return track;
}
