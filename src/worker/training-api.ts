// The training half of the engine protocol: what the UI calls as `engine.training.*` through Comlink,
// and the events a run pushes. Types only (the UI imports them through worker/api.ts).
import type { Category } from '../gpu/memory/categories.ts';
import type { LedgerSnapshot, PhaseStats } from '../gpu/memory/ledger.ts';
import type { TrainConfig } from '../train/config.ts';
import type { EngineFailure } from './api.ts';

export type { TrainConfig };

/** What the UI sets: a preset and any fields to change; the engine fills the rest from the preset's defaults. */
export type TrainSettings = { preset: string } & Partial<Omit<TrainConfig, 'preset'>>;

/** A UNet preset as the settings panel lists it. */
export interface PresetInfo {
  name: string;
  description: string;
  /** The pixel resolution it is meant for. */
  resolution: number;
  /** Resolutions the UNet can take (latents must halve cleanly at every level). */
  resolutions: number[];
  /** The configuration `configure({ preset })` resolves to. */
  defaults: TrainConfig;
}

/** A configuration the planner tried (fit), in order of preference. */
export interface PlanCandidate {
  microBatch: number;
  accumulation: number;
  checkpointing: boolean;
  precision: TrainConfig['precision'];
  peak: number;
  fits: boolean;
}

/** The planner's verdict: one training step of the configuration run on the meta device. */
export interface PlanVerdict {
  /** The configuration planned: the one asked for (plan), or the chosen one (fit; the closest when nothing fits). */
  config: TrainConfig;
  fits: boolean;
  /** Peak held bytes of one training step (the budget refuses past it). */
  peak: number;
  peakByCategory: Record<Category, number>;
  phases: Record<string, PhaseStats>;
  /** What the run may use: the budget less what the engine holds outside training. */
  budget: number;
  /** What was given up to fit, or why nothing fits and what to change; '' when it fits as asked. */
  advice: string;
  /** fit: every candidate tried. */
  tried: PlanCandidate[];
  ms: number;
}

export type RunState = 'idle' | 'running' | 'pausing' | 'paused' | 'stopping' | 'stopped' | 'done' | 'failed';

export interface TrainingStatus {
  state: RunState;
  /** Applied optimizer steps (a step skipped on f16 overflow does not count). */
  step: number;
  /** The run ends when `step` reaches this. */
  steps: number;
  /** Optimizer steps attempted in this run, skipped ones included. */
  iterations: number;
  /** The last step's loss. */
  loss: number | null;
  /** Over the last few steps, time paused excluded. */
  itPerSec: number | null;
  etaSeconds: number | null;
  /** Seconds spent stepping (pauses excluded). */
  elapsedSeconds: number;
  config: TrainConfig | null;
  data: { kind: 'synthetic'; clips: number } | { kind: 'dataset'; datasetId: string; clips: number } | null;
  /** The planner's peak for one step of this run's configuration. */
  plannedPeak: number | null;
  /** The ledger's peak over the run's first step: the planner's situation exactly (same buffers, empty pool). */
  firstStepPeak: number | null;
  /** The ledger's peak since the run started (later steps, checkpoint saves and validation included). */
  measuredPeak: number | null;
  ledger: LedgerSnapshot | null;
  /** Why the run failed (state 'failed'). */
  failure: EngineFailure | null;
}

export interface LossPoint {
  step: number;
  loss: number;
  /** The update was skipped (f16 overflow); the loss scale backs off. */
  skipped: boolean;
  gradNorm: number;
  ms: number;
}

/**
 * Live bytes per category at one moment of the run: at the peak of each phase inside a step (x between
 * step - 1 and step), and after the step (x = step). Validation, when it runs, shows up as its own phase.
 */
export interface MemorySample {
  x: number;
  step: number;
  phase: string;
  live: number;
  held: number;
  byCategory: Record<Category, number>;
}

export interface StartOptions {
  /** Train until this many optimizer steps are applied. */
  steps: number;
  /** The configuration; the one set with configure() when absent. */
  settings?: TrainSettings;
  /** Train on this dataset's clips; synthetic clips when absent or null. */
  datasetId?: string | null;
  /** How the run's validations sample (every `validateEvery` steps, and validate() without options). */
  validation?: ValidationSettings;
}

/** How a validation samples: DDIM steps, classifier-free guidance and the seed of the window and noise. */
export interface ValidationSettings {
  /** DDIM steps (default 20). */
  steps?: number;
  /** Classifier-free guidance scale (default 1.5, LatentSync's). */
  guidance?: number;
  /** Picks the clip window and the noise; the same seed gives comparable validations over a run (default 7). */
  seed?: number;
}

/** One validation frame as RGB bytes, row-major [height, width, 3]. */
export interface ValidationFrame {
  /** The frame index inside the validated window. */
  index: number;
  truth: Uint8Array;
  /** The generated lower face composited into the truth's upper face, as LatentSync shows it. */
  generated: Uint8Array;
  size: { width: number; height: number };
}

/** What one validation measured and a few of its frames. */
export interface TrainValidation {
  /** The optimizer step the model had when it was validated. */
  step: number;
  /** PSNR of the composited frames against the truth, in dB (Infinity when they are equal). */
  psnr: number;
  /** Mean absolute error over the generated (mouth) region, in [-1, 1] units. */
  mouthL1: number;
  ms: number;
  /** Held bytes at the validation's highest point (training's buffers included). */
  peakBytes: number;
  /** The budget at that moment. */
  budget: number;
  /** The plan's validation-phase peak for this run; null when the run was planned without validation. */
  plannedPeak: number | null;
  /** 'schedule': every validateEvery steps; 'request': validate() was called. */
  trigger: 'schedule' | 'request';
  /** 'frames': the dataset's own frames; 'vae-decode': the VAE's decode of the clip's true latents (no frames stored). */
  reference: 'frames' | 'vae-decode';
  /** 'loaded': the dataset's VAE decoded; 'seeded': synthetic clips without one, a VAE with seeded (untrained) weights. */
  vae: 'loaded' | 'seeded';
  /** Sampling as it ran. */
  sampling: Required<ValidationSettings>;
  /** The tiled decode's tile edge (in pixels of each map's own resolution, as tiled-vae counts it); null without a decode report. */
  tile: number | null;
  /** The generated region in the frames' pixels (where LatentSync's mask is 0): the mouth crop. */
  mouth: { x: number; y: number; width: number; height: number };
  frames: ValidationFrame[];
}

export interface TrainingHistory {
  loss: LossPoint[];
  memory: MemorySample[];
  /** The last few validations, oldest first. */
  validations: TrainValidation[];
}

/** Pushed to subscribers while a run lives (progress after every step and on every state change). */
export type TrainingEvent =
  | { type: 'train-progress'; status: TrainingStatus }
  | { type: 'train-loss'; points: LossPoint[] }
  | { type: 'train-memory'; samples: MemorySample[] }
  | { type: 'train-validation'; result: TrainValidation }
  /** A validation that could not run; the run itself goes on. */
  | { type: 'train-validation-failed'; step: number; trigger: TrainValidation['trigger']; failure: EngineFailure };

/**
 * Training in the worker. Every method rejects with an EngineFailure: 'bad-request' (a setting that cannot
 * work, with what to change), 'does-not-fit' (the planner's advice), 'training-state' (e.g. pause when
 * nothing runs) or a generic engine code.
 */
export interface TrainingApi {
  /** UNet presets with the configuration each resolves to. */
  presets(): Promise<PresetInfo[]>;
  /** Checks and stores the configuration the next start() uses; returns it resolved. */
  configure(settings: TrainSettings): Promise<TrainConfig>;
  /** Plans the configuration as given (the configured one when absent) against the budget. */
  plan(settings?: TrainSettings): Promise<PlanVerdict>;
  /** Chooses micro-batch, accumulation, checkpointing and precision that fit the budget, keeping the batch. */
  fit(settings?: TrainSettings): Promise<PlanVerdict>;
  /** Plans, allocates and starts stepping; resolves once the run is running (refused when it does not fit). */
  start(opts: StartOptions): Promise<TrainingStatus>;
  /** Resolves once the step in flight has finished and the run is paused. */
  pause(): Promise<TrainingStatus>;
  resume(): Promise<TrainingStatus>;
  /** Resolves once the run has stopped and its GPU memory is released. */
  stop(): Promise<TrainingStatus>;
  status(): Promise<TrainingStatus>;
  /** The run's loss points, memory samples and last validations so far (for a view that subscribes late). */
  history(): Promise<TrainingHistory>;
  /**
   * Validates the run's model now: between steps while it runs (the next step waits), at once while it is
   * paused. Refused ('training-state') when no run holds a model (none started, or it ended and released it).
   * Resolves with the result, which subscribers also get as a 'train-validation' event.
   */
  validate(opts?: ValidationSettings): Promise<TrainValidation>;
}
