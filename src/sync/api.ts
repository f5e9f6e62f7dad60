// The lip-sync engine's contract: what a caller (the worker's sync service, the CLI, tests) hands to
// lipSync() and what it gets back. Frames stream in from a SyncFrameSource and out to a SyncFrameSink,
// one 16-frame chunk at a time, so memory stays flat over the length of the video.
// No DOM: runs in the worker and in Node.
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { FaceBox } from '../data/crop.ts';
import type { MaskParams } from '../data/mask.ts';
import type { UNet3DConditionModel } from '../nn/unet/unet-3d-condition.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';

export type { FaceBox } from '../data/crop.ts';
export type { MaskParams } from '../data/mask.ts';

/** Output frame rate: LatentSync (and the dataset) run at 25 fps. */
export const SYNC_FPS = 25;

/** The input video, frame by frame at 25 fps. read() is called in order within a chunk; a looped video re-reads. */
export interface SyncFrameSource {
  width: number;
  height: number;
  frameCount: number;
  /** RGBA, row-major, width * height * 4 bytes. */
  read(index: number): Promise<Uint8Array>;
}

/** Where output frames go. Frames arrive in order, 0 .. frames - 1, each once. */
export interface SyncFrameSink {
  write(index: number, rgba: Uint8Array): Promise<void>;
}

/**
 * The audio the output is synced to, as per-output-frame tokens computed the way the dataset computes
 * them (src/sync/audio.ts syncAudio makes one from 16 kHz samples). `frames` sets the output length.
 */
export interface SyncAudioFeatures {
  /** Output frames at 25 fps that the audio spans. */
  frames: number;
  /** [tokens, dim] of each frame's tokens: the UNet's audio_feature_shape when it projects its audio, else dim = cross_attention_dim. */
  tokenShape: readonly [number, number];
  /** Frame k's tokens: tokens * dim values. */
  tokens(k: number): Float32Array;
}

export interface SyncModels {
  unet: UNet3DConditionModel;
  vae: AutoencoderKL;
}

export interface SyncOptions {
  /** Output frames, in order (required). */
  sink: SyncFrameSink;
  /** The face crop: a square box in source pixels. Pixels outside it are never changed. */
  box: FaceBox;
  /** Crop size the models run at (pixels, a multiple of the VAE's downsampling). */
  resolution: number;
  /** DDIM steps (default 20). */
  steps?: number;
  /** Classifier-free guidance scale, zero audio as the unconditional (default 1.5; 1 = one UNet pass a step). */
  guidance?: number;
  /** Seeds the per-chunk noise (default 1247, LatentSync's default seed). */
  seed?: number;
  /** The generated (mouth) region, as the dataset's mask (default DEFAULT_MASK). */
  mask?: MaskParams;
  /** Frames per chunk (default 16, as LatentSync). */
  chunkFrames?: number;
  /** Aborts between chunks and between DDIM steps with a SyncCancelledError; GPU memory is released. */
  signal?: AbortSignal;
  onProgress?(p: SyncProgress): void;
}

export interface SyncProgress {
  /** Frames written so far. */
  frame: number;
  frames: number;
  /** Chunks done so far. */
  chunk: number;
  chunks: number;
  /** Seconds left, from the time per chunk so far; null before the first chunk is done. */
  etaSeconds: number | null;
  /** The ledger's peak (bytes held) in the 'sync' phase so far. */
  peakBytes: number;
}

export interface SyncResult {
  frames: number;
  fps: 25;
  durationSeconds: number;
  /** The ledger's peak in the 'sync' phase. */
  peakBytes: number;
  ms: number;
}

/** Thrown when opts.signal aborts; name 'AbortError' like DOMException's, so callers can test e.name. */
export class SyncCancelledError extends Error {
  override name = 'AbortError';
  constructor(readonly framesWritten: number) {
    super(`lip sync cancelled after ${framesWritten} frames; nothing of the run is kept on the GPU`);
  }
}

export type LipSync = (rt: GpuRuntime, models: SyncModels, video: SyncFrameSource, audio: SyncAudioFeatures, opts: SyncOptions) => Promise<SyncResult>;

// The engine itself (src/sync/lip-sync.ts) and the audio features it takes (src/sync/audio.ts).
export { lipSync } from './lip-sync.ts';
export { syncAudio, type SyncAudioOptions } from './audio.ts';
export { framesForAudio, pingPongIndex } from './frame-order.ts';
