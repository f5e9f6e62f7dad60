/**
 * One training run in the worker: steps run one at a time, and the event loop is handed back between
 * steps, so Comlink calls (pause, stop, status) are answered while a run goes on and pausing takes effect
 * between steps. Pausing never touches the run's state (weights, RNG, data order), so a run paused and
 * resumed gives the losses of one that never paused.
 *
 * After every step it emits the step's loss, memory samples (live bytes per category at the peak of each
 * ledger phase inside the step, and after it) and the progress.
 *
 * Validation: every `validateEvery` steps inside the step (its ledger phase shows in the step's memory
 * samples), and on request between steps, run by the loop itself so it never overlaps a step, a pause
 * taking effect or the run's release. Results go to subscribers and the last few stay in the history.
 */
import { zeroByCategory, type Category } from '../gpu/memory/categories.ts';
import type { LedgerEvent } from '../gpu/memory/ledger.ts';
import type { StepResult } from '../train/trainer.ts';
import type { UnetTraining } from '../train/unet-training.ts';
import { failure, type EngineFailure } from './api.ts';
import type {
  LossPoint,
  MemorySample,
  RunState,
  TrainingEvent,
  TrainingHistory,
  TrainingStatus,
  TrainValidation,
  ValidationSettings,
} from './training-api.ts';

/** What validates the run's model (validation-runner.ts's RunValidator); disposed with the run. */
export interface SessionValidator {
  validate(trigger: TrainValidation['trigger'], settings?: ValidationSettings): Promise<TrainValidation>;
  dispose(): void;
}

export interface SessionOptions {
  /** Train until the trainer has applied this many steps. */
  steps: number;
  emit: (e: TrainingEvent) => void;
  toFailure: (e: unknown) => EngineFailure;
  data: TrainingStatus['data'];
  plannedPeak: number | null;
  /** Runs after each step (after a scheduled validation), inside the step's memory window (autosave hooks in here). */
  afterStep?: (session: TrainingSession, result: StepResult) => Promise<void>;
  /** Runs once a stop is asked for, before the run's memory is released (a paused run's last save hooks in here). */
  beforeStop?: (session: TrainingSession) => Promise<void>;
  /** Validates every run.config.validateEvery steps and on validate(); without it, validate() is refused. */
  validator?: SessionValidator;
  /** Hands the event loop back between steps (a macrotask by default). */
  yieldToEvents?: () => Promise<void>;
  now?: () => number;
}

/** Steps that it/s and the ETA average over. */
const RATE_WINDOW = 8;
/** Memory samples kept in the history; past it, the older half is thinned to every other sample. */
const MEMORY_HISTORY = 6000;
/** Validations kept in the history (each carries a few frames). */
export const VALIDATION_HISTORY = 4;

interface ValidationRequest {
  settings: ValidationSettings | undefined;
  resolve: (r: TrainValidation) => void;
  reject: (f: EngineFailure) => void;
}

export class TrainingSession {
  state: RunState = 'idle';
  private iterations = 0;
  private lastLoss: number | null = null;
  private durations: number[] = [];
  private elapsedMs = 0;
  private failure: EngineFailure | null = null;
  private firstStepPeak: number | null = null;
  private pauseRequested = false;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  private pausedWaiters: (() => void)[] = [];
  private readonly lossHistory: LossPoint[] = [];
  private memoryHistory: MemorySample[] = [];
  private readonly validations: TrainValidation[] = [];
  private requests: ValidationRequest[] = [];
  /** The step the last scheduled validation saw (a step skipped on overflow does not validate twice). */
  private validatedStep = -1;
  private readonly now: () => number;
  private readonly yieldToEvents: () => Promise<void>;
  /** Settles when the loop has ended (stopped, done or failed) and the run's memory is released. */
  finished: Promise<void> = Promise.resolve();

  constructor(
    /** The run; disposed by the session when it ends. */
    readonly run: UnetTraining,
    readonly opts: SessionOptions,
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.yieldToEvents = opts.yieldToEvents ?? (() => new Promise((r) => setTimeout(r, 0)));
  }

  get steps(): number {
    return this.opts.steps;
  }

  /** Starts stepping in the background. Peaks are measured from here (the ledger's peaks are reset). */
  start(): void {
    if (this.state !== 'idle') throw new Error(`the session has already started (${this.state})`);
    this.run.rt.ledger.resetPeaks();
    this.state = 'running';
    this.finished = this.loop();
    this.progress();
  }

  /** Asks for a pause; resolves when the step in flight (if any) has finished. */
  pause(): Promise<void> {
    if (this.state === 'paused') return Promise.resolve();
    if (this.state !== 'running' && this.state !== 'pausing') return Promise.resolve();
    this.pauseRequested = true;
    if (this.state === 'running') this.setState('pausing');
    return new Promise((r) => this.pausedWaiters.push(r));
  }

  resume(): void {
    if (this.state !== 'paused' && this.state !== 'pausing') return;
    this.pauseRequested = false;
    this.setState('running');
    // A pause asked for and taken back before it took effect is over too.
    this.pausedWaiters.splice(0).forEach((r) => r());
    this.wake?.();
  }

  /** Stops after the step in flight; resolves when the run's memory is released. */
  stop(): Promise<void> {
    if (this.state === 'idle') {
      this.release();
      this.setState('stopped');
      return Promise.resolve();
    }
    if (this.isOver) return this.finished;
    this.stopRequested = true;
    this.setState('stopping');
    this.wake?.();
    return this.finished;
  }

  get isOver(): boolean {
    return this.state === 'stopped' || this.state === 'done' || this.state === 'failed';
  }

  status(): TrainingStatus {
    const rate = this.itPerSec();
    const step = this.run.trainer.step;
    const live = !this.isOver;
    const snapshot = this.run.rt.ledger.snapshot();
    return {
      state: this.state,
      step,
      steps: this.steps,
      iterations: this.iterations,
      loss: this.lastLoss,
      itPerSec: rate,
      etaSeconds: rate && live ? Math.max(0, this.steps - step) / rate : null,
      elapsedSeconds: this.elapsedMs / 1000,
      config: this.run.config,
      data: this.opts.data,
      plannedPeak: this.opts.plannedPeak,
      firstStepPeak: this.firstStepPeak,
      measuredPeak: snapshot.peak,
      ledger: snapshot,
      failure: this.failure,
    };
  }

  history(): TrainingHistory {
    return { loss: [...this.lossHistory], memory: [...this.memoryHistory], validations: [...this.validations] };
  }

  /**
   * Validates the model between steps: after the step in flight while the run goes on (the next step
   * waits), at once while it is paused. Refused when the run has not started, is stopping or has ended.
   */
  validate(settings?: ValidationSettings): Promise<TrainValidation> {
    if (!this.opts.validator) return Promise.reject(failure('training-state', 'This run cannot validate.', 'Start a new run.'));
    if (this.state === 'idle') return Promise.reject(failure('training-state', 'The run has not started yet.', 'Start it, then validate.'));
    if (this.isOver || this.stopRequested)
      return Promise.reject(
        failure('training-state', `The run is ${this.state}: its model is released.`, 'Validate while a run is running or paused; restore a checkpoint to validate it again.'),
      );
    return new Promise((resolve, reject) => {
      this.requests.push({ settings, resolve, reject });
      // A paused loop waits for resume or stop: wake it to validate, it stays paused after.
      if (this.state === 'paused') this.wake?.();
    });
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopRequested && this.run.trainer.step < this.steps) {
        if (this.requests.length) {
          await this.serveRequests();
          continue;
        }
        if (this.pauseRequested) {
          await this.paused();
          continue;
        }
        await this.stepOnce();
        // Let pause, stop, validate and status calls in before the next step.
        await this.yieldToEvents();
      }
      // Asked for during the last step: the model is still here.
      if (!this.stopRequested && this.requests.length) await this.serveRequests();
      if (this.stopRequested && this.opts.beforeStop) await this.opts.beforeStop(this);
      this.end(this.stopRequested ? 'stopped' : 'done');
    } catch (e) {
      this.failure = this.opts.toFailure(e);
      this.end('failed');
    }
  }

  private async paused(): Promise<void> {
    this.setState('paused');
    this.pausedWaiters.splice(0).forEach((r) => r());
    await new Promise<void>((r) => (this.wake = r));
    this.wake = null;
    // Woken to validate, the run stays paused.
    if (!this.stopRequested && !this.pauseRequested) this.setState('running');
  }

  private async stepOnce(): Promise<void> {
    const ledger = this.run.rt.ledger;
    const window = new StepWindow(ledger.snapshot().liveByCategory, ledger.held);
    const off = ledger.onEvent((e) => window.note(e));
    const t0 = this.now();
    let result: StepResult;
    try {
      result = await this.run.step();
      this.iterations++;
      if (this.iterations === 1) this.firstStepPeak = ledger.snapshot().peak;
      await this.validateIfDue(result.step);
      if (this.opts.afterStep) await this.opts.afterStep(this, result);
    } finally {
      off();
    }
    const ms = this.now() - t0;
    this.elapsedMs += ms;
    // The first step compiles the kernels (a minute on a software adapter): it says nothing of the pace.
    if (this.iterations === 2) this.durations = [];
    this.durations.push(ms);
    if (this.durations.length > RATE_WINDOW) this.durations.shift();
    this.lastLoss = result.loss;
    const point: LossPoint = { step: result.step, loss: result.loss, skipped: result.skipped, gradNorm: result.gradNorm, ms };
    this.lossHistory.push(point);
    const samples = window.samples(this.iterations);
    this.keepMemory(samples);
    this.opts.emit({ type: 'train-loss', points: [point] });
    this.opts.emit({ type: 'train-memory', samples });
    this.progress();
  }

  /** The scheduled validation, inside the step's window. A failure is reported and the run goes on (a lost device ends it). */
  private async validateIfDue(step: number): Promise<void> {
    const every = this.run.config.validateEvery;
    if (!this.opts.validator || !(every > 0) || step % every !== 0 || step === this.validatedStep) return;
    this.validatedStep = step;
    try {
      await this.runValidation('schedule');
    } catch (e) {
      const f = this.opts.toFailure(e);
      if (f.code === 'device-lost') throw e;
      this.opts.emit({ type: 'train-validation-failed', step, trigger: 'schedule', failure: f });
    }
  }

  /** Requested validations between steps, with their own memory window (samples at the current step). */
  private async serveRequests(): Promise<void> {
    const ledger = this.run.rt.ledger;
    const window = new StepWindow(ledger.snapshot().liveByCategory, ledger.held);
    const off = ledger.onEvent((e) => window.note(e));
    try {
      while (this.requests.length) {
        const req = this.requests.shift()!;
        try {
          req.resolve(await this.runValidation('request', req.settings));
        } catch (e) {
          const f = this.opts.toFailure(e);
          req.reject(f);
          if (f.code === 'device-lost') throw e;
        }
      }
    } finally {
      off();
    }
    const samples = window.samplesAt(this.run.trainer.step);
    this.keepMemory(samples);
    this.opts.emit({ type: 'train-memory', samples });
  }

  private async runValidation(trigger: TrainValidation['trigger'], settings?: ValidationSettings): Promise<TrainValidation> {
    const result = await this.opts.validator!.validate(trigger, settings);
    this.validations.push(result);
    if (this.validations.length > VALIDATION_HISTORY) this.validations.shift();
    this.opts.emit({ type: 'train-validation', result });
    return result;
  }

  private keepMemory(samples: MemorySample[]): void {
    this.memoryHistory.push(...samples);
    if (this.memoryHistory.length > MEMORY_HISTORY) {
      const half = this.memoryHistory.length >> 1;
      this.memoryHistory = [...this.memoryHistory.slice(0, half).filter((_, i) => i % 2 === 0), ...this.memoryHistory.slice(half)];
    }
  }

  private end(state: 'stopped' | 'done' | 'failed'): void {
    this.pauseRequested = false;
    const ended = failure('training-state', `The run ${state === 'failed' ? 'failed' : 'ended'} before it could validate.`, 'Validate while a run is running or paused.');
    this.requests.splice(0).forEach((r) => r.reject(ended));
    try {
      this.release();
      // What the run left in the pool goes back to the GPU: a stopped run holds nothing.
      this.run.rt.ledger.trim(0);
    } catch (e) {
      this.failure ??= this.opts.toFailure(e);
      state = 'failed';
    }
    this.setState(state);
    this.pausedWaiters.splice(0).forEach((r) => r());
  }

  private release(): void {
    try {
      this.opts.validator?.dispose();
    } finally {
      this.run.dispose();
    }
  }

  private setState(state: RunState): void {
    if (this.state === state) return;
    this.state = state;
    this.progress();
  }

  private progress(): void {
    this.opts.emit({ type: 'train-progress', status: this.status() });
  }

  private itPerSec(): number | null {
    if (!this.durations.length) return null;
    const ms = this.durations.reduce((a, b) => a + b, 0) / this.durations.length;
    return ms > 0 ? 1000 / ms : null;
  }
}

/**
 * Follows the ledger through one step: live bytes per category at the highest point of each phase, in the
 * order the phases first appear, and after the step.
 */
class StepWindow {
  private live: Record<Category, number>;
  private liveTotal: number;
  private held: number;
  private readonly phases = new Map<string, { live: number; held: number; byCategory: Record<Category, number> }>();

  constructor(live: Record<Category, number>, held: number) {
    this.live = { ...live };
    this.liveTotal = Object.values(live).reduce((a, b) => a + b, 0);
    this.held = held;
  }

  note(e: LedgerEvent): void {
    if (e.type === 'alloc') {
      this.live[e.category] += e.bytes;
      this.liveTotal += e.bytes;
    } else if (e.type === 'free') {
      this.live[e.category] -= e.bytes;
      this.liveTotal -= e.bytes;
    } else if (e.type === 'failed') {
      this.live[e.category] -= e.bytes;
      this.liveTotal -= e.bytes;
    }
    this.held = e.held;
    if (e.type !== 'alloc') return;
    const top = this.phases.get(e.phase);
    if (!top || this.liveTotal > top.live) this.phases.set(e.phase, { live: this.liveTotal, held: this.held, byCategory: { ...this.live } });
  }

  /** Between steps (a requested validation): every sample at x = step, so the timeline shows a spike there. */
  samplesAt(step: number): MemorySample[] {
    return this.samples(step).map((s) => ({ ...s, x: step, phase: s.phase === 'after step' ? 'after validation' : s.phase }));
  }

  samples(step: number): MemorySample[] {
    const inside = [...this.phases];
    const out: MemorySample[] = inside.map(([phase, s], i) => ({ x: step - 1 + (i + 1) / (inside.length + 1), step, phase, ...s }));
    out.push({ x: step, step, phase: 'after step', live: this.liveTotal, held: this.held, byCategory: { ...zeroByCategory(), ...this.live } });
    return out;
  }
}
