// The dataset half of the engine protocol: what the UI calls as `engine.datasets.*` through
// Comlink. Types only (the UI imports them through worker/api.ts). Every method rejects with the
// engine's failure object: code 'bad-clip' (with the clip's reason and what to do),
// 'bad-encoder' (a dropped ONNX file that is not a Whisper encoder) or a generic engine code.
import type { ProxyMarked } from 'comlink';
import type { ClipProbe } from './demux.ts';
import type { FaceBox } from './crop.ts';
import type { IngestProgress } from './ingest.ts';
import type { MaskParams } from './mask.ts';
import type { WhisperEncoderInfo } from './whisper-onnx.ts';
import type { ClipMeta, DatasetConfig, DatasetMeta, StorageReport } from '../store/dataset-store.ts';
import type { VaeInfo } from './vae-weights.ts';

export type { ClipMeta, ClipProbe, DatasetConfig, DatasetMeta, FaceBox, IngestProgress, MaskParams, StorageReport, VaeInfo, WhisperEncoderInfo };

export interface DatasetOptions {
  resolution?: number;
  mask?: MaskParams;
  /** 'encoder' needs a loaded audio encoder (setAudioEncoder); its tokens are 10 x layers per frame. */
  audio?: 'logmel' | 'encoder';
}

export interface AddClipOptions {
  name?: string;
  /** Face box in display pixels; the centred largest square by default. */
  box?: FaceBox;
}

export interface ClipReadiness {
  clipId: string;
  name: string;
  /** Why the clip cannot train the VAE, or null. */
  vae: string | null;
  /** Why it cannot train the UNet, or null (no audio, too short, no latents yet). */
  unet: string | null;
}

export interface DatasetMasks {
  size: number;
  /** [size, size], 1 kept, 0 generated. */
  pixel: Float32Array;
}

/**
 * Proxy-marked: through Comlink, `engine.datasets` is a remote object whose methods are called in
 * place (engine.datasets.addClip(...)), never a copy.
 */
export interface DatasetApi extends ProxyMarked {
  list(): Promise<DatasetMeta[]>;
  create(name: string, opts?: DatasetOptions): Promise<DatasetMeta>;
  remove(datasetId: string): Promise<void>;
  clips(datasetId: string): Promise<ClipMeta[]>;
  /** Reads a file's container and tracks without decoding: for placing the face box before adding. */
  probe(file: Blob, name?: string): Promise<ClipProbe>;
  /** Decodes, crops and stores a clip; progress is a Comlink.proxy'd callback. */
  addClip(datasetId: string, file: Blob, opts?: AddClipOptions, onProgress?: (p: IngestProgress) => void): Promise<ClipMeta>;
  removeClip(clipId: string): Promise<void>;
  /** One stored frame, RGB [size, size, 3]. */
  frame(clipId: string, index: number): Promise<{ size: number; rgb: Uint8Array }>;
  masks(datasetId: string): Promise<DatasetMasks>;
  /** Loads a Whisper encoder exported to ONNX (null unloads it). */
  setAudioEncoder(model: ArrayBuffer | null, name?: string): Promise<WhisperEncoderInfo | null>;
  /**
   * Encodes every clip's frames and masked frames to latents, once (kept until the encoder
   * changes). Uses the loaded VAE; `standIn` uses an 8x8 average-pooling stand-in instead.
   */
  cacheLatents(datasetId: string, opts?: { standIn?: boolean }, onProgress?: (p: { clip: number; clips: number; done: number; total: number }) => void): Promise<ClipMeta[]>;
  readiness(datasetId: string, sampleFrames?: number): Promise<ClipReadiness[]>;
  /**
   * Builds the preset's VAE on the engine's GPU and loads the weights (.safetensors or .pt; strict), or a
   * seeded untrained one when weights is null; it becomes the encoder of cacheLatents and validation's decoder.
   */
  loadVae(weights: ArrayBuffer | null, preset: string): Promise<VaeInfo>;
  /** Loads the VAE that the demo models' manifest (public/demo/demo-models.json, an absolute URL) names. */
  loadDemoVae(manifestUrl: string): Promise<VaeInfo & { resolution: number | null }>;
  /** The loaded VAE, or null. */
  vaeInfo(): Promise<VaeInfo | null>;
  storage(): Promise<StorageReport>;
}
