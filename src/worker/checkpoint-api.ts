// The checkpoint half of the engine protocol: what the UI calls as `engine.checkpoints.*` through Comlink,
// and the events checkpoints push. Types only (the UI imports them through worker/api.ts).
import type { TrainConfig } from '../train/config.ts';
import type { EngineFailure } from './api.ts';

/** A whole checkpoint as the UI lists it. */
export interface CheckpointInfo {
  id: string;
  label: string;
  /** Applied optimizer steps. */
  step: number;
  createdAt: number;
  pinned: boolean;
  /** Written by autosave (pruned with the run's others) rather than by hand. */
  auto: boolean;
  runId: string;
  datasetId: string | null;
  preset: string;
  config: TrainConfig;
  bytes: number;
  lossCount: number;
  lastLoss: number | null;
}

export interface AutosaveSettings {
  /** Save every this many steps (null: not by steps). */
  everySteps: number | null;
  /** Save every this many minutes (null: not by time). */
  everyMinutes: number | null;
  /** Unpinned checkpoints of a run to keep; pinned ones are always kept. */
  keepLast: number;
}

export interface CheckpointStorage {
  /** navigator.storage.estimate() for the origin (null where unavailable). */
  usage: number | null;
  quota: number | null;
  /** Whether the browser agreed to keep this origin's data under storage pressure. */
  persisted: boolean | null;
  checkpoints: number;
  checkpointBytes: number;
}

/** What an import loaded, and what it left out (a partial load). */
export interface WeightsImport {
  format: 'safetensors' | 'torch';
  /** 'run': written into the paused run now; 'next-run': kept and loaded when the next run starts. */
  appliesTo: 'run' | 'next-run';
  loaded: number;
  partial: boolean;
  skipped: { name: string; why: string; shape?: readonly number[] }[];
  /** Keys an import rule renamed (old spellings). */
  renamed: { from: string; to: string }[];
  globalStep: number | null;
}

/** After a lost device or a GPU out-of-memory: the run stopped, and here is where it can go on from. */
export interface ResumeOffer {
  checkpoint: CheckpointInfo;
  /** Why the run stopped. */
  reason: EngineFailure;
  /** True when the engine already has a new device (after a loss). */
  deviceReady: boolean;
}

export type CheckpointEvent =
  | { type: 'checkpoint-saved'; checkpoint: CheckpointInfo }
  /** A save failed in the background (a full disk says so and what to do); training went on. */
  | { type: 'checkpoint-failed'; failure: EngineFailure }
  | { type: 'resume-offer'; offer: ResumeOffer };

/**
 * Checkpoints in IndexedDB. Every method rejects with an EngineFailure: 'storage-full' (with what to
 * delete), 'weights-mismatch' (the list of names and shapes), 'checkpoint-damaged', 'training-state' (no
 * run to save) or a generic engine code.
 */
export interface CheckpointApi {
  list(): Promise<CheckpointInfo[]>;
  /** Saves the run now (at the next step boundary when it is running); resolves once the checkpoint is whole. */
  save(opts?: { label?: string; pinned?: boolean }): Promise<CheckpointInfo>;
  /** Starts a run from a checkpoint that continues exactly where it was saved, until `steps` are applied. */
  restore(id: string, opts: { steps: number }): Promise<import('./training-api.ts').TrainingStatus>;
  pin(id: string, pinned: boolean): Promise<CheckpointInfo>;
  rename(id: string, label: string): Promise<CheckpointInfo>;
  delete(id: string): Promise<void>;
  /** The model's weights as a file PyTorch users load. */
  export(id: string, format: 'safetensors' | 'pt', opts?: { f16?: boolean }): Promise<Blob>;
  /** Loads .safetensors or .pt weights: strict unless `partial` (then what was skipped is listed). */
  importWeights(file: Blob, opts?: { partial?: boolean }): Promise<WeightsImport>;
  lossHistory(id: string): Promise<{ step: number; loss: number }[]>;
  autosave(): Promise<AutosaveSettings>;
  setAutosave(settings: AutosaveSettings): Promise<AutosaveSettings>;
  storage(): Promise<CheckpointStorage>;
  /** Asks the browser to keep this origin's storage (navigator.storage.persist()). */
  persist(): Promise<boolean | null>;
  /** The standing offer after a lost device or out-of-memory, if any. */
  resumeOffer(): Promise<ResumeOffer | null>;
}
