// The lip-synced video as a file: RGBA frames in order, encoded with WebCodecs through mediabunny's
// sample sources and muxed by mediabunny into MP4 or WebM (output-codecs.ts picks which), with the
// audio the video was synced to as its audio track. The file lives in memory until finish(): a
// cancelled or failed writer hands nothing over, so no half-written file can be downloaded.
// Audio is fed alongside the video (up to the end of each frame written) so the muxer interleaves
// as it goes instead of holding every audio packet until the video catches up.
// Worker-safe (WebCodecs, no DOM).
import { AudioSample, AudioSampleSource, BufferTarget, Mp4OutputFormat, Output, QUALITY_HIGH, VideoSample, VideoSampleSource, WebMOutputFormat } from 'mediabunny';
import { downmixToMono, resample } from '../data/resample.ts';
import { chooseOutput, type OutputChoice } from './output-codecs.ts';

/** Planar float PCM; every plane holds the same number of samples. */
export interface AudioPcm {
  sampleRate: number;
  planes: Float32Array[];
}

export interface VideoFileOptions {
  /** Frame size in pixels (RGBA frames of exactly width * height * 4 bytes). */
  width: number;
  height: number;
  fps: number;
  /** The audio track; it is cut where the last frame written ends. */
  audio: AudioPcm;
  /** Codecs and container; chosen by probing the encoders when absent. */
  choice?: OutputChoice;
}

export interface VideoFile {
  blob: Blob;
  /** With codecs, e.g. video/webm; codecs="vp09.00.31.08, opus". */
  mimeType: string;
  choice: OutputChoice;
  /** The codec string the video encoder was configured with. */
  videoCodecString: string | null;
  frames: number;
  /** Frames / fps. */
  durationSeconds: number;
}

const AUDIO_CHUNK_S = 0.1; // encoder input granularity; small enough to interleave with 25 fps video

export class VideoFileWriter {
  private frames = 0;
  private audioAt = 0; // next audio sample (at the output rate) not yet handed to the encoder
  private closed = false;

  private constructor(
    private readonly opts: VideoFileOptions,
    readonly choice: OutputChoice,
    private readonly output: Output<Mp4OutputFormat | WebMOutputFormat, BufferTarget>,
    private readonly video: VideoSampleSource,
    private readonly audio: AudioSampleSource,
    /** The audio at the encoder's rate and channel count, planar. */
    private readonly pcm: Float32Array[],
    /** Filled in when mediabunny configures the video encoder. */
    private readonly encoderConfig: { codec: string | null },
  ) {}

  static async create(opts: VideoFileOptions): Promise<VideoFileWriter> {
    const { width, height, fps, audio } = opts;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RangeError(`frame size ${width}x${height} is not a positive whole size`);
    if (!audio.planes.length) throw new RangeError('the audio has no channels');
    const choice = opts.choice ?? (await chooseOutput({ width, height, fps, sampleRate: audio.sampleRate, numberOfChannels: audio.planes.length }));
    const output = new Output({
      format: choice.container === 'mp4' ? new Mp4OutputFormat({ fastStart: 'in-memory' }) : new WebMOutputFormat(),
      target: new BufferTarget(),
    });
    const encoderConfig = { codec: null as string | null };
    const video = new VideoSampleSource({ codec: choice.videoCodec, quality: QUALITY_HIGH, onEncoderConfig: (c) => (encoderConfig.codec = c.codec) });
    const sound = new AudioSampleSource({ codec: choice.audioCodec, quality: QUALITY_HIGH });
    output.addVideoTrack(video, { frameRate: fps });
    output.addAudioTrack(sound);
    const writer = new VideoFileWriter(opts, choice, output, video, sound, pcmFor(audio, choice), encoderConfig);
    await output.start();
    return writer;
  }

  /** Frames written so far. */
  get written(): number {
    return this.frames;
  }

  /** Encodes frame `index` (they must come in order, from 0) and the audio up to its end. */
  async write(index: number, rgba: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('the video file is already finished or cancelled');
    if (index !== this.frames) throw new RangeError(`frame ${index} arrived, frame ${this.frames} was expected: frames must come in order`);
    const { width, height, fps } = this.opts;
    if (rgba.byteLength !== width * height * 4) throw new RangeError(`frame ${index} has ${rgba.byteLength} bytes; a ${width}x${height} RGBA frame has ${width * height * 4}`);
    const sample = new VideoSample(rgba, { format: 'RGBA', codedWidth: width, codedHeight: height, timestamp: index / fps, duration: 1 / fps });
    try {
      await this.video.add(sample);
    } finally {
      sample.close();
    }
    this.frames++;
    await this.feedAudio(this.frames / fps);
  }

  /** Finishes the file: the rest of the audio up to the last frame's end, then the container's index. */
  async finish(): Promise<VideoFile> {
    if (this.closed) throw new Error('the video file is already finished or cancelled');
    if (this.frames === 0) throw new RangeError('no frames were written');
    const { fps } = this.opts;
    await this.feedAudio(this.frames / fps);
    this.closed = true;
    this.video.close();
    this.audio.close();
    await this.output.finalize();
    const buffer = this.output.target.buffer!;
    const mimeType = await this.output.getMimeType();
    return {
      blob: new Blob([buffer], { type: mimeType }),
      mimeType,
      choice: this.choice,
      videoCodecString: this.encoderConfig.codec,
      frames: this.frames,
      durationSeconds: this.frames / fps,
    };
  }

  /** Stops encoding and drops everything written; safe to call more than once or after a failure. */
  async cancel(): Promise<void> {
    this.closed = true;
    // a finish() that failed half way leaves the output finalizing: cancel that too, to release the encoders
    if (this.output.state !== 'canceled' && this.output.state !== 'finalized') await this.output.cancel().catch(() => undefined);
  }

  private async feedAudio(untilSeconds: number): Promise<void> {
    const rate = this.choice.sampleRate;
    const end = Math.min(this.pcm[0]!.length, Math.round(untilSeconds * rate));
    const chunk = Math.round(AUDIO_CHUNK_S * rate);
    while (this.audioAt < end) {
      const n = Math.min(chunk, end - this.audioAt);
      const data = new Float32Array(n * this.pcm.length);
      this.pcm.forEach((plane, c) => data.set(plane.subarray(this.audioAt, this.audioAt + n), c * n));
      const sample = new AudioSample({ data, format: 'f32-planar', numberOfChannels: this.pcm.length, sampleRate: rate, timestamp: this.audioAt / rate });
      try {
        await this.audio.add(sample);
      } finally {
        sample.close();
      }
      this.audioAt += n;
    }
  }
}

/** The audio at the chosen rate and channel count (stereo from mono duplicates; mono from more averages). */
function pcmFor(audio: AudioPcm, choice: OutputChoice): Float32Array[] {
  let planes = audio.planes;
  if (choice.numberOfChannels === 1 && planes.length > 1) planes = [downmixToMono(planes)];
  else if (choice.numberOfChannels > planes.length) planes = Array.from({ length: choice.numberOfChannels }, (_, c) => planes[Math.min(c, planes.length - 1)]!);
  else planes = planes.slice(0, choice.numberOfChannels);
  return audio.sampleRate === choice.sampleRate ? planes : planes.map((p) => resample(p, audio.sampleRate, choice.sampleRate));
}
