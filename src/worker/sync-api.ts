// The lip-sync half of the engine protocol: what the UI calls as `engine.sync.*` through Comlink.
// Types only (the UI imports them through worker/api.ts). Every method rejects with the engine's
// failure object: 'sync-state' (no models, a run already going), 'bad-clip' (the video or audio file,
// with what to do), 'weights-mismatch' (files that are not the models they should be), 'sync-refused'
// (settings the models cannot run with), 'no-video-encoder', 'sync-cancelled' or a generic engine code.
import type { ProxyMarked } from 'comlink';
import type { TokenWindow } from '../data/audio-tokens.ts';
import type { FaceBox } from '../data/crop.ts';
import type { MaskParams } from '../data/mask.ts';
import type { AudioFeatureConfig } from '../store/dataset-store.ts';
import type { SyncProgress } from '../sync/api.ts';

export type { SyncProgress };

/** Weights files for loadModels: .safetensors (or .pt with a preset) as Blobs or bytes. */
export interface SyncModelFiles {
  unet: Blob | ArrayBuffer;
  vae: Blob | ArrayBuffer;
  /** Needed when a file does not carry its model config (a .pt, or safetensors from elsewhere). */
  unetPreset?: string;
  vaePreset?: string;
  /** Crop size the models were trained at; read from the UNet file's training config when absent. */
  resolution?: number;
  /** Audio features the UNet was trained on; 80-bin log-mel (the dataset default) when absent. */
  audio?: AudioFeatureConfig;
  /** Feature steps around each frame (LatentSync's 2 and 2 when absent). */
  audioWindow?: TokenWindow;
  /** Overrides the VAE's scaling_factor (for a file without a config). */
  scalingFactor?: number;
  mask?: MaskParams;
  names?: { unet?: string; vae?: string };
}

/** The demo models: the manifest (public/demo/demo-models.json) and the files it names beside it. */
export interface SyncDemoModels {
  demo: true;
  manifestUrl: string;
}

export interface SyncModelInfo {
  source: 'demo' | 'files';
  unet: { name: string; preset: string | null; parameters: number; crossAttentionDim: number };
  vae: { name: string; preset: string | null; parameters: number };
  resolution: number;
  audio: AudioFeatureConfig;
  audioWindow: TokenWindow | null;
  mask: MaskParams | null;
  /** GPU bytes the weights hold. */
  weightBytes: number;
}

export interface SyncRunOptions {
  /** DDIM steps (default 20). */
  steps?: number;
  /** Classifier-free guidance scale (default 1.5; 1 is one UNet pass a step). */
  guidance?: number;
  seed?: number;
  /** The face box in display pixels: a square; the centred largest square by default. */
  box?: FaceBox;
  /** Sync only the first this many seconds of the audio (a quick look before a long run). */
  maxSeconds?: number;
  videoName?: string;
  audioName?: string;
}

export type SyncStage = 'open' | 'sync' | 'finish';

export interface SyncRunProgress extends SyncProgress {
  stage: SyncStage;
}

export interface SyncRunResult {
  /** The whole file; handed over only once it is complete. */
  blob: Blob;
  /** With codecs, e.g. video/webm; codecs="vp09.00.10.08, opus". */
  mimeType: string;
  /** A download name: the input's name with -synced and the container's extension. */
  fileName: string;
  container: 'mp4' | 'webm';
  videoCodec: string;
  audioCodec: string;
  /** The codec string the video encoder ran with (null if the browser did not say). */
  videoCodecString: string | null;
  frames: number;
  durationSeconds: number;
  /** Where the audio came from. */
  audioFrom: 'video' | 'file';
  /** The ledger's peak in the 'sync' phase. */
  peakBytes: number;
  ms: number;
}

/**
 * Proxy-marked: through Comlink, `engine.sync` is a remote object whose methods run in the worker.
 */
export interface SyncApi extends ProxyMarked {
  /** Builds the UNet and VAE and loads their weights (replacing loaded ones). */
  loadModels(source: SyncModelFiles | SyncDemoModels): Promise<SyncModelInfo>;
  /** The loaded models, or null. */
  models(): Promise<SyncModelInfo | null>;
  /** Frees the models' GPU memory. */
  unloadModels(): Promise<void>;
  /**
   * Lip-syncs `video` to `audio` (null: the video's own audio track) and returns the encoded file.
   * Progress is a Comlink.proxy'd callback. One run at a time.
   */
  run(video: Blob, audio: Blob | null, opts?: SyncRunOptions, onProgress?: (p: SyncRunProgress) => void): Promise<SyncRunResult>;
  /** Stops the running sync; its run() rejects with 'sync-cancelled' and no file. False when none runs. */
  cancel(): Promise<boolean>;
}
