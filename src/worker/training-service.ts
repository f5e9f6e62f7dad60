/**
 * The engine's training service (engine.training in the worker): resolves the UI's settings into a
 * TrainConfig, asks the planner, and owns the one TrainingSession that runs at a time. Every method rejects
 * with an EngineFailure that says what to change.
 */
import { fmtBytes } from '../gpu/memory/bytes.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { getPreset, PRESETS, type Preset } from '../nn/presets.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { checkConfig, DEFAULT_TRAIN, type TrainConfig } from '../train/config.ts';
import { fitTraining, planningClips, planTraining, type PlanReport } from '../train/plan.ts';
import type { ClipLatents } from '../train/sample.ts';
import { syntheticClips } from '../train/synthetic-data.ts';
import { UnetTraining } from '../train/unet-training.ts';
import { failure, isEngineFailure, type EngineFailure, type EngineEvent } from './api.ts';
import { toFailure } from './failures.ts';
import type {
  PlanCandidate,
  PlanVerdict,
  PresetInfo,
  StartOptions,
  TrainingApi,
  TrainingHistory,
  TrainingStatus,
  TrainSettings,
  TrainValidation,
  ValidationSettings,
} from './training-api.ts';
import { TrainingSession, type SessionOptions } from './training-session.ts';
import { RunValidator } from './validation-runner.ts';

export interface TrainingHost {
  /** The engine's runtime; throws the engine's failure when there is none. */
  runtime(): GpuRuntime;
  emit(e: EngineEvent): void;
  /**
   * A dataset's clips as the trainer takes them (latents, masks, audio tokens): the dataset service
   * provides this once it can; until then, runs train on synthetic clips.
   */
  datasetClips?: (datasetId: string, frames: number) => Promise<ClipLatents[]>;
  /** Hooks for the session (validation, autosave). */
  afterStep?: SessionOptions['afterStep'];
  beforeStop?: SessionOptions['beforeStop'];
  /** Runs on a new run before its first step (a checkpoint restore, imported weights); a throw refuses the start. */
  beforeStart?: (run: UnetTraining, datasetId: string | null) => Promise<void>;
  /**
   * The VAE validation decodes with (the dataset's, held by the engine outside training), or null when none
   * is loaded: synthetic runs then validate with a seeded VAE of the configured preset.
   */
  vae?: () => AutoencoderKL | null;
}

/** The most steps one start() may ask for. */
const MAX_STEPS = 10_000_000;

export class TrainingService implements TrainingApi {
  private configured: TrainConfig | null = null;
  session: TrainingSession | null = null;
  /** Live bytes outside training when the session started: planning during a run leaves the run out. */
  private baseline = 0;

  constructor(private readonly host: TrainingHost) {}

  presets(): Promise<PresetInfo[]> {
    return guard(async () =>
      Object.values(PRESETS)
        .filter((p) => p.kind === 'unet')
        .map((p) => ({ name: p.name, description: p.description, resolution: p.resolution, resolutions: resolutionsOf(p), defaults: presetDefaults(p) })),
    );
  }

  configure(settings: TrainSettings): Promise<TrainConfig> {
    return guard(async () => {
      this.configured = resolveSettings(settings);
      return this.configured;
    });
  }

  plan(settings?: TrainSettings): Promise<PlanVerdict> {
    return guard(async () => {
      const config = this.configFor(settings);
      const rt = this.host.runtime();
      const t0 = performance.now();
      const r = await planTraining(config, rt.limits, this.available(rt, config));
      return verdict(r, r.fits ? '' : notFitting(r), [], performance.now() - t0);
    });
  }

  fit(settings?: TrainSettings): Promise<PlanVerdict> {
    return guard(async () => {
      const config = this.configFor(settings);
      const rt = this.host.runtime();
      const t0 = performance.now();
      const f = await fitTraining(config, rt.limits, this.available(rt, config));
      const best = f.chosen ?? f.tried.reduce((a, b) => (b.peak < a.peak ? b : a));
      return verdict(best, f.advice, f.tried.map(candidate), performance.now() - t0);
    });
  }

  start(opts: StartOptions): Promise<TrainingStatus> {
    return guard(async () => {
      if (this.session && !this.session.isOver)
        throw failure('training-state', `A run is ${this.session.state} at step ${this.session.run.trainer.step}.`, 'Stop it before starting another.');
      const steps = opts?.steps;
      if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS)
        throw failure('bad-request', `The number of steps must be a whole number from 1 to ${MAX_STEPS.toLocaleString('en-US')}, not ${steps}.`, 'Enter how many optimizer steps to train.');
      const config = this.configFor(opts.settings);
      const rt = this.host.runtime();
      const { clips, data } = await this.clipsFor(config, opts.datasetId ?? null);
      // Start as the planner does: nothing pooled, so the measured peak is the planned one.
      rt.ledger.trim(0);
      const budget = this.available(rt, config);
      const plan = await planTraining(config, rt.limits, budget);
      if (!plan.fits) {
        const fit = await fitTraining(config, rt.limits, budget);
        throw failure('does-not-fit', `${describe(config)} does not fit the ${fmtBytes(budget)} that the budget leaves for training.`, fit.advice);
      }
      this.baseline = rt.ledger.snapshot().live;
      // The ledger's peaks count what the engine holds outside the run (a VAE kept for the dataset, say): so
      // do the planned peaks the run is compared with.
      const outside = rt.ledger.budget - budget;
      const run = new UnetTraining(rt, config, clips);
      const validator = new RunValidator(run, {
        vae: this.host.vae,
        synthetic: data?.kind === 'synthetic',
        plannedPeak: plan.phases.validation ? plan.phases.validation.peak + outside : null,
        defaults: opts.validation,
      });
      try {
        validator.sampling();
        // Scheduled validation: its VAE now, where the plan has it (a dataset run without its VAE is refused here).
        if (config.validateEvery > 0) validator.vae();
        await this.host.beforeStart?.(run, opts.datasetId ?? null);
      } catch (e) {
        validator.dispose();
        run.dispose();
        throw e;
      }
      this.session = new TrainingSession(run, {
        steps,
        emit: (e) => this.host.emit(e),
        toFailure,
        data,
        plannedPeak: plan.peak + outside,
        afterStep: this.host.afterStep,
        beforeStop: this.host.beforeStop,
        validator,
      });
      this.configured = config;
      this.session.start();
      return this.session.status();
    });
  }

  pause(): Promise<TrainingStatus> {
    return guard(async () => {
      const s = this.live('pause');
      await s.pause();
      return s.status();
    });
  }

  resume(): Promise<TrainingStatus> {
    return guard(async () => {
      const s = this.live('resume');
      if (s.state !== 'paused' && s.state !== 'pausing') throw failure('training-state', `The run is ${s.state}, not paused.`, 'Pause it first.');
      s.resume();
      return s.status();
    });
  }

  stop(): Promise<TrainingStatus> {
    return guard(async () => {
      await this.session?.stop();
      return this.statusNow();
    });
  }

  status(): Promise<TrainingStatus> {
    return guard(async () => this.statusNow());
  }

  history(): Promise<TrainingHistory> {
    return guard(async () => this.session?.history() ?? { loss: [], memory: [], validations: [] });
  }

  validate(opts?: ValidationSettings): Promise<TrainValidation> {
    return guard(async () => {
      if (!this.session)
        throw failure('training-state', 'No run holds a model to validate.', 'Start a run (or restore a checkpoint), then validate while it runs or is paused.');
      return this.session.validate(opts);
    });
  }

  private statusNow(): TrainingStatus {
    if (this.session) return this.session.status();
    let ledger = null;
    try {
      ledger = this.host.runtime().ledger.snapshot();
    } catch {
      // No engine yet: an idle status without a ledger.
    }
    return {
      state: 'idle',
      step: 0,
      steps: 0,
      iterations: 0,
      loss: null,
      itPerSec: null,
      etaSeconds: null,
      elapsedSeconds: 0,
      config: this.configured,
      data: null,
      plannedPeak: null,
      firstStepPeak: null,
      measuredPeak: null,
      ledger,
      failure: null,
    };
  }

  private live(verb: string): TrainingSession {
    const s = this.session;
    if (!s || s.isOver) throw failure('training-state', `Nothing to ${verb}: no run is going.`, 'Start a run first.');
    return s;
  }

  private configFor(settings?: TrainSettings): TrainConfig {
    if (settings) return resolveSettings(settings);
    if (this.configured) return this.configured;
    throw failure('bad-request', 'No training configuration is set.', 'Choose a preset and settings first.');
  }

  /**
   * What a run may hold: the budget less the live bytes outside training (pooled bytes are trimmed first).
   * A plan with validation counts the VAE's weights itself: when the engine already holds that VAE, its bytes
   * are given back so they are not counted twice.
   */
  private available(rt: GpuRuntime, config: TrainConfig): number {
    // The runtime's own buffers are in every plan already.
    const outside = (this.session && !this.session.isOver ? this.baseline : rt.ledger.snapshot().live) - rt.ownBytes;
    const vae = config.validateEvery > 0 ? RunValidator.hostBytes(this.host.vae?.(), rt) : 0;
    return rt.ledger.budget - outside + vae;
  }

  private async clipsFor(config: TrainConfig, datasetId: string | null): Promise<{ clips: ClipLatents[]; data: TrainingStatus['data'] }> {
    if (datasetId === null) {
      // Latents of the shape the planner plans with (the VAE's downsampling decides it).
      const [channels, height, width] = planningClips(config)[0].shape;
      const clips = syntheticClips({
        clips: 4,
        frames: config.frames * 2 + 8,
        latentChannels: channels,
        height,
        width,
        tokens: config.audioTokens,
        dim: config.audioDim,
        seed: config.seed,
      });
      return { clips, data: { kind: 'synthetic', clips: clips.length } };
    }
    if (!this.host.datasetClips)
      throw failure('bad-request', 'Training on a dataset is not available yet: the dataset service cannot hand clips to the trainer.', 'Start without a dataset to train on synthetic clips.');
    const clips = await this.host.datasetClips(datasetId, config.frames);
    if (!clips.length) throw failure('bad-request', 'This dataset has no clip that can train the UNet.', 'Add a clip with a face and an audio track, and encode its latents.');
    const [, h, w] = clips[0].shape;
    const [, ph, pw] = planningClips(config)[0].shape;
    if (h !== ph || w !== pw)
      throw failure('bad-request', `The dataset's latents are ${h}x${w}; at ${config.resolution} px the model takes ${ph}x${pw}.`, 'Set the resolution to the dataset’s.');
    const [tokens, dim] = clips[0].audioShape;
    if (tokens !== config.audioTokens || dim !== config.audioDim)
      throw failure(
        'bad-request',
        `The dataset's audio gives ${tokens} tokens of width ${dim} per frame; the model takes ${config.audioTokens} of width ${config.audioDim}.`,
        'Use a preset whose cross-attention width matches the dataset’s audio features.',
      );
    return { clips, data: { kind: 'dataset', datasetId, clips: clips.length } };
  }
}

/** A preset's training defaults: LatentSync's sample shape for the real presets, a toy one for the tiny ones. */
export function presetDefaults(p: Preset): TrainConfig {
  const latentsync = p.name.startsWith('latentsync');
  const c: TrainConfig = {
    ...DEFAULT_TRAIN,
    preset: p.name,
    resolution: p.resolution,
    frames: latentsync ? 16 : 2,
    audioTokens: latentsync ? 50 : 4,
    audioDim: Number(p.config.cross_attention_dim ?? 384),
    ...(latentsync ? {} : { lr: 1e-3, weightDecay: 0 }),
  };
  // The resolution whose latents are the UNet's sample_size, through the preset's VAE.
  const sample = Number(p.config.sample_size);
  if (sample > 0) c.resolution = sample * latentFactor(c);
  return c;
}

/** Pixels per latent: the VAE's downsampling, as the planner lays the latents out. */
const latentFactor = (c: TrainConfig): number => c.resolution / planningClips(c)[0].shape[1];

const RESOLUTIONS = [16, 32, 48, 64, 96, 128, 192, 256, 320, 384, 448, 512, 640, 768, 1024];

/** Pixel sizes whose latents halve cleanly through every down block of the preset's UNet. */
function resolutionsOf(p: Preset): number[] {
  const factor = latentFactor(presetDefaults(p));
  const levels = ((p.config.block_out_channels as number[] | undefined) ?? [0]).length;
  const step = factor * 2 ** (levels - 1);
  return RESOLUTIONS.filter((r) => r % step === 0 && r <= Math.max(4 * p.resolution, 256));
}

/** Settings from the UI as a checked TrainConfig; what cannot work is refused with what to change. */
export function resolveSettings(s: TrainSettings): TrainConfig {
  if (!s || typeof s.preset !== 'string') throw failure('bad-request', 'The settings name no preset.', 'Choose a preset.');
  let preset: Preset;
  try {
    preset = getPreset(s.preset);
  } catch {
    throw failure('bad-request', `There is no preset "${s.preset}".`, `Choose one of ${unetPresets().join(', ')}.`);
  }
  if (preset.kind !== 'unet') throw failure('bad-request', `${preset.name} is a VAE; the trainer here trains the UNet.`, `Choose one of ${unetPresets().join(', ')}.`);
  const defaults = presetDefaults(preset);
  const given = Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as Partial<TrainConfig>;
  // The audio width defaults to the model's cross-attention width; a dataset's other width (log-mel: 80)
  // gives the model a learned projection to it (unetModelConfig).
  const config: TrainConfig = { ...defaults, ...given };
  if (given.batch !== undefined && given.microBatch === undefined) config.microBatch = config.batch;
  try {
    checkConfig(config);
  } catch (e) {
    const message = String((e as Error).message ?? e).replace(/^training config: /, '');
    throw failure('bad-request', `${message[0].toUpperCase()}${message.slice(1)}.`, 'Change that setting.');
  }
  return config;
}

const unetPresets = () => Object.values(PRESETS).filter((p) => p.kind === 'unet').map((p) => p.name);

function describe(c: TrainConfig): string {
  const accumulation = c.batch / c.microBatch;
  return (
    `${c.preset} at ${c.resolution} px, ${c.frames} frame${c.frames === 1 ? '' : 's'}, batch ${c.batch}` +
    `${accumulation > 1 ? ` (${accumulation} x ${c.microBatch})` : ''}, checkpointing ${c.checkpointing ? 'on' : 'off'}, ${c.precision}`
  );
}

function notFitting(r: PlanReport): string {
  return `${describe(r.config)} does not fit the ${fmtBytes(r.budget)} that the budget leaves for training.`;
}

function verdict(r: PlanReport, advice: string, tried: PlanCandidate[], ms: number): PlanVerdict {
  return { config: r.config, fits: r.fits, peak: r.peak, peakByCategory: r.peakByCategory, phases: r.phases, budget: r.budget, advice, tried, ms };
}

function candidate(r: PlanReport): PlanCandidate {
  const c = r.config;
  return { microBatch: c.microBatch, accumulation: c.batch / c.microBatch, checkpointing: c.checkpointing, precision: c.precision, peak: r.peak, fits: r.fits };
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw isEngineFailure(e) ? e : (toFailure(e) as EngineFailure);
  }
}
