/**
 * The protocol between the UI and the engine worker: types, and a few plain helpers the UI may use.
 * The UI imports this file and nothing else of the engine side; every engine-side import here is
 * `import type`, so nothing of the engine ends up in the UI bundle.
 *
 * Growing it: later issues add methods to LabEngine (datasets, plan, train, validate, checkpoints) and
 * variants to EngineEvent; existing methods and events keep their shape.
 */
import type { DeviceLimits, LimitName } from '../gpu/device.ts';
import type { Category } from '../gpu/memory/categories.ts';
import type { LedgerSnapshot, PhaseStats } from '../gpu/memory/ledger.ts';
import type { DatasetApi } from '../data/dataset-api.ts';
import type { TrainingApi, TrainingEvent } from './training-api.ts';
import type { CheckpointApi, CheckpointEvent } from './checkpoint-api.ts';
import type { SyncApi } from './sync-api.ts';

export type { Category, DeviceLimits, LedgerSnapshot, LimitName, PhaseStats };
export type * from './training-api.ts';
export type * from './checkpoint-api.ts';
export type * from './sync-api.ts';
export type * from '../data/dataset-api.ts';

/** What the engine's GPU is. */
export interface DeviceReport {
  /** A slug such as "google-swiftshader"; what benchmarks put in their file names. */
  name: string;
  description: string;
  vendor: string;
  architecture: string;
  device: string;
  /** True for software adapters (SwiftShader, WARP): expect them to be slow. */
  isFallbackAdapter: boolean;
  /** The limits the device was created with (the adapter's maximum). */
  limits: DeviceLimits;
  features: string[];
}

export interface SelfTestResult {
  ok: boolean;
  /** Values computed on the GPU and checked on the host. */
  n: number;
  maxError: number;
  workgroups: number;
  ms: number;
}

export interface InitOptions {
  /** The memory budget the ledger enforces; DEFAULT_BUDGET_BYTES when absent. */
  budgetBytes?: number;
}

/**
 * Pushed by the engine to subscribers. Failures of a method call reject that call instead; events carry
 * what nobody asked for (a lost device, an uncaught error in the worker).
 */
export type EngineEvent =
  | { type: 'ledger'; snapshot: LedgerSnapshot }
  | { type: 'device-lost'; failure: EngineFailure }
  | { type: 'error'; failure: EngineFailure }
  | TrainingEvent
  | CheckpointEvent;

export type EngineListener = (event: EngineEvent) => void;

/** The engine: one object in the worker, reached through Comlink (every call is async there). */
export interface LabEngine {
  /** Acquires the GPU (again, after a lost device) and sets the budget. Idempotent while the device lives. */
  init(opts?: InitOptions): Promise<DeviceReport>;
  /** The device report, or null before init. */
  device(): Promise<DeviceReport | null>;
  ledger(): Promise<LedgerSnapshot>;
  /** Runs a small kernel through the ledger, the kernel cache and the readback path (phase "selftest"). */
  selfTest(): Promise<SelfTestResult>;
  /** Sets the enforced budget; trims the pool when needed; refuses one below the live bytes. */
  setBudget(bytes: number): Promise<LedgerSnapshot>;
  /**
   * Registers a listener (wrap it in Comlink.proxy) and returns its id. Ledger snapshots arrive at most
   * every LEDGER_PUSH_MS while memory changes, the last change always included; the current snapshot
   * is pushed right away when the engine is initialized.
   */
  subscribe(listener: EngineListener): Promise<number>;
  unsubscribe(id: number): Promise<void>;
  /** Destroys the device (subscribers see device-lost with reason "destroyed"); init() starts again. */
  dispose(): Promise<void>;
  /** Datasets: clips in, frames, masks, audio tokens and cached latents out (src/data/dataset-api.ts). */
  readonly datasets: DatasetApi;
  /** Training: presets, settings, the planner's verdict, and one run at a time (src/worker/training-api.ts). */
  readonly training: TrainingApi;
  /** Checkpoints: autosave, save, restore, export and import (src/worker/checkpoint-api.ts). */
  readonly checkpoints: CheckpointApi;
  /** Lip sync: models, one run at a time, the encoded video back (src/worker/sync-api.ts). */
  readonly sync: SyncApi;
}

export const DEFAULT_BUDGET_BYTES = 4 * 1024 ** 3;
export const LEDGER_PUSH_MS = 100;

export type FailureCode =
  | 'no-webgpu'
  | 'insecure-context'
  | 'no-adapter'
  | 'not-initialized'
  | 'bad-request'
  | 'budget-below-live'
  | 'budget-exceeded'
  | 'gpu-allocation'
  | 'device-lost'
  | 'worker-failed'
  | 'bad-clip'
  | 'bad-encoder'
  | 'does-not-fit'
  | 'training-state'
  | 'storage-full'
  | 'weights-mismatch'
  | 'checkpoint-damaged'
  | 'sync-state'
  | 'sync-refused'
  | 'sync-cancelled'
  | 'no-video-encoder'
  | 'internal';

/**
 * A failure as the UI shows it. Engine methods reject with this plain object (Comlink passes
 * non-Error values through structured clone unchanged), so codes and advice survive the trip.
 */
export interface EngineFailure {
  kind: 'engine-failure';
  code: FailureCode;
  /** What happened, in a sentence. */
  message: string;
  /** What the user can do about it. */
  action: string;
  /** Stack or driver text, for bug reports. */
  detail?: string;
}

export const FAILURE_TITLES: Record<FailureCode, string> = {
  'no-webgpu': 'WebGPU is not available',
  'insecure-context': 'WebGPU needs a secure page',
  'no-adapter': 'No GPU adapter',
  'not-initialized': 'The engine is not started',
  'bad-request': 'Invalid value',
  'budget-below-live': 'Budget too low',
  'budget-exceeded': 'Memory budget exceeded',
  'gpu-allocation': 'The GPU refused an allocation',
  'device-lost': 'The GPU device was lost',
  'worker-failed': 'The engine worker failed',
  'bad-clip': 'This clip cannot be used',
  'bad-encoder': 'This audio encoder cannot be used',
  'does-not-fit': 'This training run does not fit the budget',
  'training-state': 'Not possible right now',
  'storage-full': 'Storage is full',
  'weights-mismatch': 'The weights do not match the model',
  'checkpoint-damaged': 'This checkpoint is damaged',
  'sync-state': 'Lip sync cannot start yet',
  'sync-refused': 'Lip sync cannot run with these inputs',
  'sync-cancelled': 'Lip sync cancelled',
  'no-video-encoder': 'This browser cannot encode the video',
  'internal': 'Unexpected error',
};

export function failure(code: FailureCode, message: string, action: string, detail?: string): EngineFailure {
  return { kind: 'engine-failure', code, message, action, ...(detail ? { detail } : {}) };
}

export function isEngineFailure(x: unknown): x is EngineFailure {
  return typeof x === 'object' && x !== null && (x as EngineFailure).kind === 'engine-failure';
}

/** The limits worth showing a user: they bound tensor sizes and kernel shapes. */
export const KEY_LIMITS: readonly { key: LimitName; label: string; unit: 'bytes' | 'count' }[] = [
  { key: 'maxBufferSize', label: 'Largest buffer', unit: 'bytes' },
  { key: 'maxStorageBufferBindingSize', label: 'Largest storage binding', unit: 'bytes' },
  { key: 'maxComputeWorkgroupStorageSize', label: 'Workgroup memory', unit: 'bytes' },
  { key: 'maxComputeInvocationsPerWorkgroup', label: 'Invocations per workgroup', unit: 'count' },
  { key: 'maxStorageBuffersPerShaderStage', label: 'Storage buffers per stage', unit: 'count' },
  { key: 'maxComputeWorkgroupsPerDimension', label: 'Workgroups per dimension', unit: 'count' },
];
