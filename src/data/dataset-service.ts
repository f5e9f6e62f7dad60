// The engine's dataset service (engine.datasets in the worker): one IndexedDB store, the loaded
// audio encoder and latent encoder, and the jobs of src/data behind the DatasetApi protocol.
// Every method rejects with a failure object built by `fail` (the engine passes its own), so
// codes, reasons and actions reach the UI through Comlink intact.
import { proxyMarker } from 'comlink';
import type { AddClipOptions, ClipReadiness, DatasetApi, DatasetMasks, DatasetOptions } from './dataset-api.ts';
import { ClipError } from './clip-error.ts';
import { openClip } from './demux.ts';
import { ingestClip, unetRefusal, type IngestProgress } from './ingest.ts';
import { cacheLatents, poolingStandIn, type LatentEncoder } from './latent-cache.ts';
import { DEFAULT_MASK, pixelMask, validateMask } from './mask.ts';
import { LATENTSYNC_WINDOW } from './audio-tokens.ts';
import { EncoderModelError, loadWhisperEncoder, type WhisperEncoder, type WhisperEncoderInfo } from './whisper-onnx.ts';
import { DatasetStore, type ClipMeta, type DatasetConfig, type DatasetMeta, type StorageReport } from '../store/dataset-store.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import type { ClipLatents } from '../train/sample.ts';
import { vaeLatentEncoder } from './vae-encoder.ts';
import { buildVae, fetchDemoVae, VaeLoadError, type VaeInfo } from './vae-weights.ts';

export type FailureMaker = (code: 'bad-clip' | 'bad-encoder' | 'bad-request', message: string, action: string, detail?: string) => unknown;

export interface DatasetServiceOptions {
  /** Builds the failure object a method rejects with (the engine's `failure`). */
  fail?: FailureMaker;
  /** Turns any other error into one (the engine's `toFailure`). */
  toFailure?: (e: unknown) => unknown;
  /** IndexedDB database name (tests use their own). */
  dbName?: string;
  /** The engine's GPU runtime (throws the engine's failure when there is none): the VAE lives on it. */
  runtime?: () => GpuRuntime;
}

const plainFailure: FailureMaker = (code, message, action, detail) => ({ kind: 'engine-failure', code, message, action, ...(detail ? { detail } : {}) });

export const DEFAULT_RESOLUTION = 256;

export class DatasetService implements DatasetApi {
  readonly [proxyMarker] = true as const;
  private store: Promise<DatasetStore> | null = null;
  private encoder: WhisperEncoder | null = null;
  private latentEncoder: LatentEncoder | null = null;
  private vae: { model: AutoencoderKL; info: VaeInfo; rt: GpuRuntime } | null = null;
  private readonly fail: FailureMaker;
  private readonly toFailure: (e: unknown) => unknown;

  constructor(private readonly opts: DatasetServiceOptions = {}) {
    this.fail = opts.fail ?? plainFailure;
    this.toFailure = opts.toFailure ?? ((e) => plainFailure('bad-request', e instanceof Error ? e.message : String(e), 'Reload the page; if it happens again, report it.', e instanceof Error ? e.stack : undefined));
  }

  /** The VAE's encoder, once loaded (engine side; not part of the protocol). */
  setLatentEncoder(encoder: LatentEncoder | null): void {
    this.latentEncoder = encoder;
  }

  private db(): Promise<DatasetStore> {
    this.store ??= DatasetStore.open(this.opts.dbName).then(async (s) => {
      await s.gc(); // records of ingests that never finished
      return s;
    });
    return this.store;
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ClipError) throw this.fail('bad-clip', e.message, e.action, e.detail);
      if (e instanceof EncoderModelError) throw this.fail('bad-encoder', e.message, e.action);
      if (e instanceof BadRequest || e instanceof VaeLoadError) throw this.fail('bad-request', e.message, e.action);
      throw this.toFailure(e);
    }
  }

  list(): Promise<DatasetMeta[]> {
    return this.guard(async () => (await this.db()).listDatasets());
  }

  create(name: string, opts: DatasetOptions = {}): Promise<DatasetMeta> {
    return this.guard(async () => {
      const resolution = opts.resolution ?? DEFAULT_RESOLUTION;
      // 16 and 32 px are the tiny demo models' sizes; the UNet needs latents that halve cleanly.
      if (!Number.isInteger(resolution) || resolution < 16 || resolution > 1024 || resolution % 16) {
        throw new BadRequest(`The training resolution must be a multiple of 16 between 16 and 1024, not ${resolution}.`, 'Pick 256 or 512, as LatentSync does (32 for the tiny demo models).');
      }
      const mask = opts.mask ?? DEFAULT_MASK;
      const bad = validateMask(mask);
      if (bad) throw new BadRequest(`Invalid mask: ${bad}.`, 'Adjust the mask edges.');
      let audio: DatasetConfig['audio'] = { kind: 'logmel', nMels: 80 };
      if (opts.audio === 'encoder') {
        if (!this.encoder) throw new BadRequest('No audio encoder is loaded.', 'Drop a Whisper encoder exported to ONNX first, or use log-mel audio features.');
        audio = { kind: 'encoder', encoder: this.encoder.name, layers: this.encoder.layers, dim: this.encoder.dim };
      }
      const config: DatasetConfig = { resolution, mask, audio, window: LATENTSYNC_WINDOW, fps: 25 };
      return (await this.db()).createDataset(name.trim() || 'Dataset', config);
    });
  }

  remove(datasetId: string): Promise<void> {
    return this.guard(async () => (await this.db()).deleteDataset(datasetId));
  }

  clips(datasetId: string): Promise<ClipMeta[]> {
    return this.guard(async () => (await this.db()).listClips(datasetId));
  }

  probe(file: Blob, name?: string) {
    return this.guard(async () => {
      const clip = await openClip(file, name ?? ((file as File).name || 'the file'));
      clip.dispose();
      return clip.probe;
    });
  }

  addClip(datasetId: string, file: Blob, opts: AddClipOptions = {}, onProgress?: (p: IngestProgress) => void): Promise<ClipMeta> {
    return this.guard(async () => {
      const store = await this.db();
      return ingestClip(store, datasetId, file, { name: opts.name ?? ((file as File).name || undefined), box: opts.box, encoder: this.encoder, onProgress });
    });
  }

  removeClip(clipId: string): Promise<void> {
    return this.guard(async () => (await this.db()).deleteClip(clipId));
  }

  frame(clipId: string, index: number) {
    return this.guard(async () => {
      const store = await this.db();
      const meta = await store.getClip(clipId);
      if (!meta) throw new BadRequest(`There is no clip ${clipId}.`, 'Refresh the clip list.');
      if (!(index >= 0 && index < meta.frames)) throw new BadRequest(`${meta.name} has frames 0..${meta.frames - 1}, not ${index}.`, 'Pick a frame in range.');
      const size = meta.resolution;
      return { size, rgb: await store.readFrames(clipId, index, 1, size * size * 3) };
    });
  }

  masks(datasetId: string): Promise<DatasetMasks> {
    return this.guard(async () => {
      const ds = await (await this.db()).getDataset(datasetId);
      if (!ds) throw new BadRequest(`There is no dataset ${datasetId}.`, 'Refresh the dataset list.');
      const { resolution: size, mask } = ds.config;
      return { size, pixel: pixelMask(size, mask) };
    });
  }

  setAudioEncoder(model: ArrayBuffer | null, name = 'whisper-encoder.onnx'): Promise<WhisperEncoderInfo | null> {
    return this.guard(async () => {
      await this.encoder?.release();
      this.encoder = null;
      if (!model) return null;
      const { ort } = await import('./ort-web.ts');
      this.encoder = await loadWhisperEncoder(ort, model, { name });
      const { encode: _e, release: _r, ...info } = this.encoder;
      return info;
    });
  }

  cacheLatents(datasetId: string, opts: { standIn?: boolean } = {}, onProgress?: (p: { clip: number; clips: number; done: number; total: number }) => void): Promise<ClipMeta[]> {
    return this.guard(async () => {
      const encoder = opts.standIn ? poolingStandIn : this.latentEncoder;
      if (!encoder) throw new BadRequest('No VAE is loaded to encode the frames.', 'Load or create a VAE first (or cache with the stand-in encoder to try the pipeline).');
      const store = await this.db();
      const clips = await store.listClips(datasetId);
      const out: ClipMeta[] = [];
      for (const [i, c] of clips.entries()) {
        out.push(await cacheLatents(store, c.id, encoder, { onProgress: (done, total) => onProgress?.({ clip: i, clips: clips.length, done, total }) }));
      }
      return out;
    });
  }

  loadVae(weights: ArrayBuffer | null, preset: string): Promise<VaeInfo> {
    return this.guard(async () => this.setVae(await buildVae(this.runtime(), preset, weights, weights ? 'file' : 'init')));
  }

  loadDemoVae(manifestUrl: string): Promise<VaeInfo & { resolution: number | null }> {
    return this.guard(async () => {
      const { manifest, weights } = await fetchDemoVae(manifestUrl);
      const info = this.setVae(await buildVae(this.runtime(), manifest.vae.preset, weights, 'demo'));
      return { ...info, resolution: manifest.vae.resolution ?? manifest.unet?.resolution ?? null };
    });
  }

  vaeInfo(): Promise<VaeInfo | null> {
    return Promise.resolve(this.vaeModel() ? this.vae!.info : null);
  }

  /** The loaded VAE (engine side, not part of the protocol): validation decodes with it. Null after a lost device. */
  vaeModel(): AutoencoderKL | null {
    if (!this.vae || this.vae.rt.ctx?.lostError) return null;
    return this.vae.model;
  }

  /** The loaded Whisper encoder, or null (engine side: lip sync of models that hear its tokens). */
  audioEncoder(): WhisperEncoder | null {
    return this.encoder;
  }

  /** A dataset's config, or null when there is no such dataset (engine side: an export records it). */
  async datasetConfig(datasetId: string): Promise<DatasetConfig | null> {
    return (await (await this.db()).getDataset(datasetId))?.config ?? null;
  }

  /**
   * The dataset's clips as the trainer takes them (engine side: TrainingService's datasetClips). Clips that
   * cannot train the UNet are left out; when none can, the refusal says what to do first.
   */
  trainingClips(datasetId: string, frames: number): Promise<ClipLatents[]> {
    return this.guard(async () => {
      const store = await this.db();
      if (!(await store.getDataset(datasetId))) throw new BadRequest(`There is no dataset ${datasetId}.`, 'Pick a dataset in the Clips panel.');
      const clips = await store.listClips(datasetId);
      if (!clips.length) throw new BadRequest('The dataset has no clips.', 'Add a clip (or the demo clip) in the Clips panel first.');
      const ready = clips.filter((c) => unetRefusal(c, frames) === null);
      const uncached = clips.filter((c) => c.audio && c.frames >= frames && !c.latents);
      if (!ready.length && uncached.length)
        throw new BadRequest(`${uncached.map((c) => c.name).join(', ')} ${uncached.length > 1 ? 'have' : 'has'} no latents yet: cache latents first.`, 'Load a VAE and press "Cache latents" in the Clips panel.');
      if (!ready.length) throw new BadRequest(`No clip of this dataset can train the UNet: ${unetRefusal(clips[0]!, frames)}`, 'Add a clip with a face and an audio track.');
      const loaded = this.vaeModel() ? this.vae!.info.id : null;
      const stale = ready.filter((c) => loaded && c.latents!.encoder !== loaded);
      if (stale.length)
        throw new BadRequest(`The latents of ${stale.map((c) => c.name).join(', ')} were made by another VAE than the one loaded.`, 'Press "Cache latents" again to encode them with the loaded VAE.');
      return Promise.all(ready.map((c) => store.clipLatents(c.id)));
    });
  }

  private setVae({ vae, info }: { vae: AutoencoderKL; info: VaeInfo }): VaeInfo {
    this.vae?.model.dispose();
    this.vae = { model: vae, info, rt: this.runtime() };
    this.latentEncoder = vaeLatentEncoder(vae, this.vae.rt, info.id);
    return info;
  }

  private runtime(): GpuRuntime {
    if (!this.opts.runtime) throw new BadRequest('This dataset service has no GPU to run a VAE on.', 'Use the app’s engine worker.');
    return this.opts.runtime();
  }

  readiness(datasetId: string, sampleFrames = 16): Promise<ClipReadiness[]> {
    return this.guard(async () => {
      const clips = await (await this.db()).listClips(datasetId);
      return clips.map((c) => ({
        clipId: c.id,
        name: c.name,
        vae: c.frames > 0 ? null : `${c.name} has no frames.`,
        unet: unetRefusal(c, sampleFrames),
      }));
    });
  }

  storage(): Promise<StorageReport> {
    return this.guard(async () => (await this.db()).storage());
  }
}

class BadRequest extends Error {
  constructor(message: string, readonly action: string) {
    super(message);
  }
}
