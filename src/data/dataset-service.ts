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
import { DEFAULT_MASK, latentMask, pixelMask, validateMask } from './mask.ts';
import { LATENTSYNC_WINDOW } from './audio-tokens.ts';
import { EncoderModelError, loadWhisperEncoder, type WhisperEncoder, type WhisperEncoderInfo } from './whisper-onnx.ts';
import { DatasetStore, type ClipMeta, type DatasetConfig, type DatasetMeta, type StorageReport } from '../store/dataset-store.ts';

export type FailureMaker = (code: 'bad-clip' | 'bad-encoder' | 'bad-request', message: string, action: string, detail?: string) => unknown;

export interface DatasetServiceOptions {
  /** Builds the failure object a method rejects with (the engine's `failure`). */
  fail?: FailureMaker;
  /** Turns any other error into one (the engine's `toFailure`). */
  toFailure?: (e: unknown) => unknown;
  /** IndexedDB database name (tests use their own). */
  dbName?: string;
}

const plainFailure: FailureMaker = (code, message, action, detail) => ({ kind: 'engine-failure', code, message, action, ...(detail ? { detail } : {}) });

export const DEFAULT_RESOLUTION = 256;

export class DatasetService implements DatasetApi {
  readonly [proxyMarker] = true as const;
  private store: Promise<DatasetStore> | null = null;
  private encoder: WhisperEncoder | null = null;
  private latentEncoder: LatentEncoder | null = null;
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
      if (e instanceof BadRequest) throw this.fail('bad-request', e.message, e.action);
      throw this.toFailure(e);
    }
  }

  list(): Promise<DatasetMeta[]> {
    return this.guard(async () => (await this.db()).listDatasets());
  }

  create(name: string, opts: DatasetOptions = {}): Promise<DatasetMeta> {
    return this.guard(async () => {
      const resolution = opts.resolution ?? DEFAULT_RESOLUTION;
      if (!Number.isInteger(resolution) || resolution < 64 || resolution > 1024 || resolution % 64) {
        throw new BadRequest(`The training resolution must be a multiple of 64 between 64 and 1024, not ${resolution}.`, 'Pick 256 or 512, as LatentSync does.');
      }
      const mask = opts.mask ?? DEFAULT_MASK;
      const bad = validateMask(mask);
      if (bad) throw new BadRequest(`Invalid mask: ${bad}.`, 'Adjust the mask edges.');
      let audio: DatasetConfig['audio'] = { kind: 'logmel', nMels: 80 };
      if (opts.audio === 'encoder') {
        if (!this.encoder) throw new BadRequest('No audio encoder is loaded.', 'Drop a Whisper encoder exported to ONNX first, or use log-mel audio features.');
        audio = { kind: 'encoder', encoder: this.encoder.name, layers: this.encoder.layers, dim: this.encoder.dim };
      }
      const config: DatasetConfig = { resolution, mask, latentFactor: 8, audio, window: LATENTSYNC_WINDOW, fps: 25 };
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
      const { resolution: size, mask, latentFactor } = ds.config;
      return { size, pixel: pixelMask(size, mask), latentSize: size / latentFactor, latent: latentMask(size, mask, latentFactor) };
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
