// The engine's lip-sync service (engine.sync in the worker): loads a UNet and a VAE for inference, and
// runs one sync at a time: the video's frames and the audio stream in (src/media/sync-input.ts), the
// engine generates chunk by chunk (src/sync/lip-sync.ts), frames go straight into the encoder
// (src/media/video-file-writer.ts). The file is handed over only whole: a cancel or a failure drops
// the encoder's output and returns nothing. Every method rejects with an EngineFailure.
import { proxyMarker } from 'comlink';
import { centeredBox, clampBox } from '../data/crop.ts';
import { ClipError } from '../data/clip-error.ts';
import { validateMask, type MaskParams } from '../data/mask.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { chooseOutput, NoEncoderError } from '../media/output-codecs.ts';
import { openSyncInput, type SyncInput } from '../media/sync-input.ts';
import { VideoFileWriter } from '../media/video-file-writer.ts';
import { describeMismatch, StateDictMismatchError } from '../nn/state-dict.ts';
import type { AudioFeatureConfig } from '../store/dataset-store.ts';
import type { TokenWindow } from '../data/audio-tokens.ts';
import { openWeights } from '../train/checkpoint-export.ts';
import type { DemoManifest } from '../data/vae-weights.ts';
import { SyncCancelledError, SYNC_FPS, type SyncModels } from '../sync/api.ts';
import { DEFAULT_SYNC_AUDIO, encoderMismatch, heardTokens, syncAudio } from '../sync/audio.ts';
import { lipSync } from '../sync/lip-sync.ts';
import { loadSyncModels } from '../sync/models.ts';
import { UnetFileFactsError, unetFileFacts } from '../sync/unet-file-facts.ts';
import type { WhisperEncoder } from '../data/whisper-onnx.ts';
import { failure, isEngineFailure, type EngineFailure } from './api.ts';
import { toFailure } from './failures.ts';
import type { SyncApi, SyncDemoModels, SyncModelFiles, SyncModelInfo, SyncRunOptions, SyncRunProgress, SyncRunResult } from './sync-api.ts';

export interface SyncHost {
  /** The engine's runtime; throws the engine's failure when there is none. */
  runtime(): GpuRuntime;
  /** Why the GPU is not free for a sync now (a training run stepping), or null. */
  busy?: () => string | null;
  /** The Whisper encoder loaded for the datasets, for models that hear its tokens. */
  audioEncoder?: () => WhisperEncoder | null;
}

/** What this service reads of public/demo/demo-models.json beyond the VAE. */
type SyncManifest = DemoManifest & {
  unet?: { audio?: { features?: AudioFeatureConfig; window?: TokenWindow } };
  vae: { scalingFactor?: number };
  mask?: MaskParams;
};

interface Loaded {
  models: SyncModels;
  info: SyncModelInfo;
}

export class SyncService implements SyncApi {
  readonly [proxyMarker] = true as const;
  private loaded: Loaded | null = null;
  private running: AbortController | null = null;

  constructor(private readonly host: SyncHost) {}

  loadModels(source: SyncModelFiles | SyncDemoModels): Promise<SyncModelInfo> {
    return guard(async () => {
      if (this.running) throw busy('The models cannot change while a sync runs.', 'Cancel the sync first, or wait for it to finish.');
      const files = 'demo' in source ? await demoFiles(source.manifestUrl) : { ...source, source: 'files' as const };
      if (files.mask) {
        const bad = validateMask(files.mask);
        if (bad) throw failure('bad-request', `The models' mask is invalid: ${bad}.`, 'Fix the mask in the manifest, or leave it out for the default.');
      }
      const unetFile = await openWeights(files.unet);
      const vaeFile = await openWeights(files.vae);
      // What the file says it trained with (a latent-lab export), unless the caller says otherwise.
      const facts = unetFileFacts(unetFile.metadata);
      const resolution = files.resolution ?? facts.resolution;
      if (!resolution) throw failure('bad-request', 'The UNet file does not say which resolution it was trained at.', 'Give the resolution (the crop size in pixels the UNet was trained at).');
      const audio = files.audio ?? facts.audio ?? DEFAULT_SYNC_AUDIO;
      this.encoderFor(audio);
      const audioWindow = files.audioWindow ?? facts.window ?? null;
      const mask = files.mask ?? facts.mask ?? null;
      const rt = this.host.runtime();
      await this.unload();
      const before = rt.ledger.snapshot().live;
      const models = await loadSyncModels(rt, { unet: unetFile, vae: vaeFile }, { unetPreset: files.unetPreset, vaePreset: files.vaePreset, scalingFactor: files.scalingFactor });
      const info: SyncModelInfo = {
        source: files.source,
        unet: { name: files.names?.unet ?? 'unet', preset: unetFile.metadata.preset ?? files.unetPreset ?? null, parameters: models.unet.parameterCount(), crossAttentionDim: models.unet.config.cross_attention_dim },
        vae: { name: files.names?.vae ?? 'vae', preset: vaeFile.metadata.preset ?? files.vaePreset ?? null, parameters: models.vae.parameterCount() },
        resolution,
        audio,
        audioWindow,
        mask,
        weightBytes: rt.ledger.snapshot().live - before,
      };
      this.loaded = { models, info };
      return info;
    });
  }

  models(): Promise<SyncModelInfo | null> {
    return Promise.resolve(this.loaded?.info ?? null);
  }

  unloadModels(): Promise<void> {
    return guard(async () => {
      if (this.running) throw busy('The models are in use by the running sync.', 'Cancel the sync first.');
      await this.unload();
    });
  }

  run(video: Blob, audio: Blob | null, opts: SyncRunOptions = {}, onProgress?: (p: SyncRunProgress) => void): Promise<SyncRunResult> {
    return guard(async () => {
      if (this.running) throw busy('A sync is already running.', 'Wait for it to finish, or cancel it.');
      const other = this.host.busy?.();
      if (other) throw busy(other, 'Pause or stop the training run first; lip sync needs the GPU to itself.');
      const loaded = this.loaded;
      if (!loaded) throw busy('No lip-sync models are loaded.', 'Load the demo models, or pick a UNet and a VAE file, first.');
      const rt = this.host.runtime();
      const abort = new AbortController();
      this.running = abort;
      const signal = abort.signal;
      let input: SyncInput | null = null;
      let writer: VideoFileWriter | null = null;
      const progress = (stage: SyncRunProgress['stage'], p: Partial<SyncRunProgress> = {}) =>
        onProgress?.({ stage, frame: 0, frames: 0, chunk: 0, chunks: 0, etaSeconds: null, peakBytes: 0, ...p });
      try {
        progress('open');
        input = await openSyncInput(video, audio, { videoName: opts.videoName, audioName: opts.audioName, maxSeconds: opts.maxSeconds, signal });
        const { audio: features, audioWindow } = loaded.info;
        const tokens = await syncAudio(input.samples, { features, encoder: this.encoderFor(features), ...(audioWindow ? { window: audioWindow } : {}) });
        const v = input.video;
        const box = opts.box ? checkBox(opts.box, v.width, v.height) : clampBox(centeredBox(v.width, v.height), v.width, v.height);
        const choice = await chooseOutput({ width: v.width, height: v.height, fps: SYNC_FPS, sampleRate: input.pcm.sampleRate, numberOfChannels: input.pcm.planes.length });
        writer = await VideoFileWriter.create({ width: v.width, height: v.height, fps: SYNC_FPS, audio: input.pcm, choice });
        const result = await lipSync(rt, loaded.models, v, tokens, {
          sink: writer,
          box,
          resolution: loaded.info.resolution,
          ...(loaded.info.mask ? { mask: loaded.info.mask } : {}),
          steps: opts.steps,
          guidance: opts.guidance,
          seed: opts.seed,
          signal,
          onProgress: (p) => progress('sync', p),
        });
        if (signal.aborted) throw new SyncCancelledError(result.frames);
        progress('finish', { frame: result.frames, frames: result.frames, peakBytes: result.peakBytes });
        const file = await writer.finish();
        writer = null;
        return {
          blob: file.blob,
          mimeType: file.mimeType,
          fileName: `${stem(opts.videoName ?? ((video as File).name || 'video'))}-synced${choice.extension}`,
          container: choice.container,
          videoCodec: choice.videoCodec,
          audioCodec: choice.audioCodec,
          videoCodecString: file.videoCodecString,
          frames: file.frames,
          durationSeconds: file.durationSeconds,
          audioFrom: input.audioFrom,
          peakBytes: result.peakBytes,
          ms: result.ms,
        };
      } catch (e) {
        throw signal.aborted ? cancelled() : e;
      } finally {
        await writer?.cancel();
        await input?.close().catch(() => undefined);
        this.running = null;
      }
    });
  }

  cancel(): Promise<boolean> {
    if (!this.running) return Promise.resolve(false);
    this.running.abort();
    return Promise.resolve(true);
  }

  /**
   * The Whisper encoder for models that hear its tokens (null for log-mel models): the one loaded for the
   * datasets, if its layers and width are the ones the models were trained on.
   */
  private encoderFor(audio: AudioFeatureConfig): WhisperEncoder | null {
    if (audio.kind !== 'encoder') return null;
    const encoder = this.host.audioEncoder?.() ?? null;
    const action = `Load ${audio.encoder} as the datasets' audio encoder, then load the models again.`;
    if (!encoder) throw failure('sync-state', `These models hear the tokens of the audio encoder ${audio.encoder} (${heardTokens(audio)}), and no audio encoder is loaded.`, action);
    const mismatch = encoderMismatch(audio, encoder);
    if (mismatch) throw failure('bad-request', `The loaded audio encoder does not fit: ${mismatch}.`, action);
    return encoder;
  }

  private async unload(): Promise<void> {
    const old = this.loaded;
    this.loaded = null;
    old?.models.unet.dispose();
    old?.models.vae.dispose();
  }
}

/** The demo models: the manifest and the two files it names. */
async function demoFiles(manifestUrl: string): Promise<SyncModelFiles & { source: 'demo' }> {
  const manifest = (await (await fetchOk(manifestUrl, 'the demo models manifest')).json()) as SyncManifest;
  const { unet, vae } = manifest;
  if (!unet?.file || !vae?.file) throw failure('bad-request', `The demo models manifest at ${manifestUrl} names no ${unet?.file ? 'VAE' : 'UNet'}.`, 'Rebuild public/demo with tools/demo/train-demo-models.ts, or pick a UNet and a VAE file.');
  const [unetBytes, vaeBytes] = await Promise.all([fetchNamed(manifestUrl, unet.file, 'the demo UNet'), fetchNamed(manifestUrl, vae.file, 'the demo VAE')]);
  return {
    source: 'demo',
    unet: unetBytes,
    vae: vaeBytes,
    unetPreset: unet.preset,
    vaePreset: vae.preset,
    resolution: unet.resolution ?? (manifest.resolution as number | undefined) ?? vae.resolution,
    audio: unet.audio?.features,
    audioWindow: unet.audio?.window,
    scalingFactor: vae.scalingFactor,
    mask: manifest.mask,
    names: { unet: unet.file, vae: vae.file },
  };
}

/**
 * A file the manifest names: paths are written from the app's root ("demo/x") or relative to the manifest.
 * Its file name beside the manifest first (a server may answer a missing path with its index page, so a
 * root-relative guess is only the fallback), then the path from the manifest's parent folder.
 */
async function fetchNamed(manifestUrl: string, file: string, what: string): Promise<ArrayBuffer> {
  const r = await fetch(new URL(file.split('/').pop()!, manifestUrl).href).catch(() => null);
  if (r?.ok) return r.arrayBuffer();
  return (await fetchOk(new URL(file, new URL('..', manifestUrl)).href, what)).arrayBuffer();
}

async function fetchOk(url: string, what: string): Promise<Response> {
  const r = await fetch(url).catch((e: unknown) => {
    throw failure('bad-request', `Could not fetch ${what} (${url}): ${e instanceof Error ? e.message : String(e)}.`, 'Check that the app is served with its public/demo folder, then try again.');
  });
  if (!r.ok) throw failure('bad-request', `Could not fetch ${what} (${url}): HTTP ${r.status}.`, 'The demo models are not in this build: pick a UNet and a VAE file instead.');
  return r;
}

function checkBox(box: { x: number; y: number; size: number }, width: number, height: number) {
  const ok = [box.x, box.y, box.size].every(Number.isInteger) && box.size > 0 && box.x >= 0 && box.y >= 0 && box.x + box.size <= width && box.y + box.size <= height;
  if (!ok) {
    throw failure(
      'sync-refused',
      `The face box (x ${box.x}, y ${box.y}, size ${box.size}) is not a square inside the ${width}x${height} video.`,
      `Place a square box of at most ${Math.min(width, height)} px inside the frame, over the face.`,
    );
  }
  return box;
}

const stem = (name: string) => name.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '-').slice(0, 60) || 'video';

const busy = (message: string, action: string) => failure('sync-state', message, action);

const cancelled = () => failure('sync-cancelled', 'The lip sync was cancelled; no file was written.', 'Start it again when you want the video.');

/** Rejects with an EngineFailure whatever went wrong. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw syncFailure(e);
  }
}

function syncFailure(e: unknown): EngineFailure {
  if (isEngineFailure(e)) return e;
  if (e instanceof SyncCancelledError) return cancelled();
  if (e instanceof ClipError) return e.code === 'aborted' ? cancelled() : failure('bad-clip', e.message, e.action, e.detail);
  if (e instanceof UnetFileFactsError) return failure('bad-request', e.message, e.action);
  if (e instanceof NoEncoderError) return failure('no-video-encoder', e.message, 'Use a current Chrome or Edge (WebCodecs encoders for H.264/AAC or VP9/Opus).');
  if (e instanceof StateDictMismatchError) return failure('weights-mismatch', `The weights do not fit the model: ${describeMismatch(e.report)}`, 'Pick the UNet and VAE files that were trained together, with their presets.');
  if (e instanceof Error && /^lip sync: (the (UNet|VAE) file|preset .* is a)/.test(e.message)) {
    return failure('weights-mismatch', e.message.slice('lip sync: '.length), 'Pick the UNet and VAE files that were trained together (latent-lab exports say which model they hold).', e.stack);
  }
  if (e instanceof Error && e.message.startsWith('lip sync: ')) {
    return failure('sync-refused', e.message.slice('lip sync: '.length), 'Change what the message names and run again.', e.stack);
  }
  return toFailure(e);
}
