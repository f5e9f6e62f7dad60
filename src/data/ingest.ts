// A dropped file -> a clip in a dataset: probe, decode video to 25 fps face crops at the training
// resolution, decode audio to 16 kHz mono, compute its features, store it all, list it last.
// Every refusal is a ClipError with a reason and an action; whatever happens, a clip that is not
// committed leaves nothing behind and the rest of the dataset is not touched.
// Worker-safe.
import { samplesForFrames } from './audio-tokens.ts';
import { ClipError, codecName } from './clip-error.ts';
import { centeredBox, clampBox, type FaceBox } from './crop.ts';
import { audioDecoderProblem, decodeAudio } from './decode-audio.ts';
import { decodeVideo } from './decode-video.ts';
import { openClip } from './demux.ts';
import { outputFrameCount } from './frame-times.ts';
import { logMelSpectrogram } from './logmel.ts';
import type { WhisperEncoder } from './whisper-onnx.ts';
import { audioShapeOf, FRAMES_PER_CHUNK, type ClipMeta, type DatasetConfig, type DatasetStore } from '../store/dataset-store.ts';

export type IngestStage = 'probe' | 'video' | 'audio' | 'features' | 'store';

export interface IngestProgress {
  stage: IngestStage;
  done: number;
  total: number;
}

export interface IngestOptions {
  /** The file name shown in messages and kept in the clip's metadata. */
  name?: string;
  /** Face box in display pixels; centred largest square by default. */
  box?: FaceBox;
  /** Needed when the dataset's audio features come from an encoder. */
  encoder?: WhisperEncoder | null;
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
  /** Frames a training sample takes: clips shorter than this get a warning. */
  sampleFrames?: number;
}

/** Why a clip cannot train the UNet (it may still train the VAE), or null when it can. */
export function unetRefusal(clip: ClipMeta, sampleFrames = 16): string | null {
  if (!clip.audio) {
    return `${clip.name} has no audio: it can train the VAE but not the UNet, which learns lips from sound. Add the clip with its audio track, or keep it for VAE training only.`;
  }
  if (clip.frames < sampleFrames) {
    return `${clip.name} has ${clip.frames} frames; a UNet sample takes ${sampleFrames}. Use a clip of at least ${(sampleFrames / 25).toFixed(2)} s, or fewer frames per sample.`;
  }
  if (!clip.latents) return `${clip.name} has no cached latents yet: encode the dataset with the VAE first.`;
  return null;
}

export async function ingestClip(store: DatasetStore, datasetId: string, file: Blob, opts: IngestOptions = {}): Promise<ClipMeta> {
  const name = opts.name ?? ((file as File).name || 'clip');
  const progress = opts.onProgress ?? (() => {});
  const dataset = await store.getDataset(datasetId);
  if (!dataset) throw new ClipError('bad-options', `There is no dataset ${datasetId}.`, 'Create the dataset first, or pick another one.');
  const config = dataset.config;
  if (config.audio.kind === 'encoder' && (!opts.encoder || opts.encoder.name !== config.audio.encoder)) {
    throw new ClipError('bad-options', `This dataset's audio tokens come from the encoder ${config.audio.encoder}, which is not loaded.`, 'Drop that encoder (.onnx) again, or make a dataset with log-mel audio features.');
  }

  progress({ stage: 'probe', done: 0, total: 1 });
  const clip = await openClip(file, name);
  const clipId = store.newClipId();
  let storedBytes = 0;
  try {
    const { probe } = clip;
    const v = probe.video;
    const box = clampBox(opts.box ?? centeredBox(v.displayWidth, v.displayHeight), v.displayWidth, v.displayHeight);
    const expected = outputFrameCount(probe.durationUs, config.fps);
    const size = config.resolution;
    const frameBytes = size * size * 3;
    const warnings: string[] = [];
    if (v.variableFrameRate) warnings.push(`Variable frame rate (median ${v.fps.toFixed(1)} fps): frames were picked by timestamp for ${config.fps} fps.`);
    else if (Math.abs(v.fps - config.fps) > 0.01) warnings.push(`${v.fps.toFixed(2)} fps: retimed to ${config.fps} fps by timestamp.`);
    if (box.size < size) warnings.push(`The face box is ${box.size} px, smaller than the training resolution (${size} px): frames are upscaled and will look soft.`);

    // video: frames into chunks of FRAMES_PER_CHUNK, written as they fill
    progress({ stage: 'video', done: 0, total: expected });
    let chunk = new Uint8Array(FRAMES_PER_CHUNK * frameBytes);
    let inChunk = 0, chunkIndex = 0;
    const flush = async () => {
      if (!inChunk) return;
      const rgb = inChunk === FRAMES_PER_CHUNK ? chunk : chunk.slice(0, inChunk * frameBytes);
      await store.putFrames({ clipId, chunk: chunkIndex, count: inChunk, rgb });
      storedBytes += rgb.byteLength;
      chunkIndex++;
      inChunk = 0;
      chunk = new Uint8Array(FRAMES_PER_CHUNK * frameBytes);
    };
    const result = await decodeVideo(clip.video, v, { box, size, fps: config.fps, signal: opts.signal, name, container: probe.container }, async (k, rgb) => {
      if (k !== chunkIndex * FRAMES_PER_CHUNK + inChunk) throw new Error(`frame ${k} out of order`);
      chunk.set(rgb, inChunk * frameBytes);
      if (++inChunk === FRAMES_PER_CHUNK) await flush();
      if (k % 8 === 0) progress({ stage: 'video', done: k, total: expected });
    });
    await flush();
    const frames = result.frames;
    progress({ stage: 'video', done: frames, total: frames });

    // audio
    let audio: ClipMeta['audio'] = null;
    if (!clip.audio || !probe.audio) {
      warnings.push('No audio track: this clip can train the VAE but not the UNet.');
    } else {
      const problem = await audioDecoderProblem(clip.audio, probe.audio);
      if (problem) {
        warnings.push(`Audio not used: ${problem} (${codecName(probe.audio.codec)}). This clip can train the VAE but not the UNet; re-encode its audio to AAC or Opus to use it for both.`);
      } else {
        progress({ stage: 'audio', done: 0, total: 1 });
        const decoded = await decodeAudio(clip.audio, v.startUs, samplesForFrames(frames, config.fps), opts.signal);
        if (decoded.coverage < 0.9) warnings.push(`The audio covers ${(decoded.coverage * 100).toFixed(0)}% of the video; the rest is silence.`);
        progress({ stage: 'features', done: 0, total: 1 });
        const { features, featureShape } = await audioFeatures(decoded.samples, config, opts.encoder ?? null);
        await store.putAudio({ clipId, pcm: decoded.samples, features, featureShape });
        storedBytes += decoded.samples.byteLength + features.byteLength;
        audio = { samples: decoded.samples.length, coverage: decoded.coverage, features: config.audio, tokenShape: audioShapeOf(config) };
      }
    }
    if (frames < (opts.sampleFrames ?? 16)) warnings.push(`Only ${frames} frames: shorter than one ${opts.sampleFrames ?? 16}-frame UNet sample.`);

    const a = probe.audio;
    const meta: ClipMeta = {
      id: clipId,
      datasetId,
      name,
      bytes: probe.bytes,
      addedAt: Date.now(),
      source: {
        container: probe.container,
        videoCodec: v.codec,
        audioCodec: a?.codec ?? null,
        width: v.displayWidth,
        height: v.displayHeight,
        rotation: v.rotation,
        fps: v.fps,
        variableFrameRate: v.variableFrameRate,
        durationUs: probe.durationUs,
        sampleRate: a?.sampleRate ?? null,
        channels: a?.channels ?? null,
      },
      box,
      frames,
      resolution: size,
      audio,
      latents: null,
      warnings,
      storedBytes,
    };
    progress({ stage: 'store', done: 0, total: 1 });
    await store.commitClip(meta);
    progress({ stage: 'store', done: 1, total: 1 });
    return meta;
  } catch (e) {
    await store.discardClipData(clipId).catch(() => {});
    if (e instanceof ClipError) throw e;
    if (opts.signal?.aborted) throw new ClipError('aborted', `Adding ${name} was cancelled.`, 'Add it again when you want it.');
    const err = e instanceof Error ? e : new Error(String(e));
    if (err.name === 'QuotaExceededError') {
      throw new ClipError('bad-options', `The browser's storage is full: ${name} was not added.`, 'Delete clips or datasets you no longer need, or use a lower training resolution.', err.message);
    }
    throw new ClipError('decode-failed', `${name} could not be added: ${err.message}`, 'Try re-encoding it to H.264/AAC MP4; if that fails too, report the problem with this message.', err.stack);
  } finally {
    clip.dispose();
  }
}

/** The audio features a dataset keeps: log-mel [nMels, 4 * frames] or encoder states [steps, layers, dim]. */
export async function audioFeatures(samples: Float32Array, config: DatasetConfig, encoder: WhisperEncoder | null): Promise<{ features: Float32Array; featureShape: number[] }> {
  if (config.audio.kind === 'encoder') {
    if (!encoder) throw new Error('no encoder loaded');
    const s = await encoder.encode(samples);
    return { features: s.data, featureShape: [s.steps, s.layers, s.dim] };
  }
  const mel = logMelSpectrogram(samples, config.audio.nMels);
  return { features: mel.data, featureShape: [mel.nMels, mel.nFrames] };
}
