import type { Remote } from 'comlink';
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type {
  EngineEvent,
  EngineFailure,
  LabEngine,
  LedgerSnapshot,
  LossPoint,
  MemorySample,
  PlanVerdict,
  PresetInfo,
  TrainingApi,
  TrainingStatus,
  TrainSettings,
} from '../worker/api.ts';
import { asFailure } from './engine-client.ts';
import { loadJson, saveJson } from './local-settings.ts';

const SETTINGS_KEY = 'latent-lab.train-settings';
const STEPS_KEY = 'latent-lab.train-steps';
/** Settings changes within this many ms make one plan. */
export const PLAN_DEBOUNCE_MS = 350;
/** Memory samples kept for the timeline; past it, the older half is thinned. */
const MEMORY_KEEP = 4000;

export type RunCall = 'start' | 'pause' | 'resume' | 'stop' | null;

/**
 * The training side of the page: the settings, the planner's verdict (re-planned, debounced, as settings
 * or the budget change), the run's status, its loss points and memory samples. Panels read it; lab-app
 * forwards the engine's training events to it. Talks to the engine only through worker/api.ts types.
 */
export class TrainingController implements ReactiveController {
  presets: PresetInfo[] = [];
  settings: TrainSettings = loadSettings();
  steps: number = loadSteps();
  verdict: PlanVerdict | null = null;
  /** fit's choice when the settings as given do not fit. */
  suggestion: PlanVerdict | null = null;
  planning = false;
  /** Why the settings cannot be planned (a bad value), shown beside them. */
  planError: EngineFailure | null = null;
  status: TrainingStatus | null = null;
  /** The run's loss points and memory samples; a new run starts new arrays. */
  loss: LossPoint[] = [];
  memory: MemorySample[] = [];
  version = 0;
  call: RunCall = null;
  /** The dataset a new run trains on (the Clips panel's), or null for synthetic clips. */
  datasetId: () => string | null = () => null;
  private api: Remote<TrainingApi> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private planSeq = 0;
  private progressEvents = 0;
  private plannedBudget: number | null = null;

  constructor(
    private readonly host: ReactiveControllerHost,
    /** Failures of run calls and of the run itself go to the page's error banner. */
    private readonly report: (f: EngineFailure) => void,
  ) {
    host.addController(this);
  }

  hostDisconnected(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  get ready(): boolean {
    return this.api !== null;
  }

  get running(): boolean {
    const s = this.status?.state;
    return s === 'running' || s === 'pausing' || s === 'paused' || s === 'stopping';
  }

  /** The engine is up: load the presets, plan the settings, and catch up with a run already going. */
  async connect(engine: Remote<LabEngine>): Promise<void> {
    // Comlink reaches nested objects by path; its types do not follow non-function members.
    const api = engine.training as unknown as Remote<TrainingApi>;
    try {
      this.presets = await api.presets();
      if (!this.presets.some((p) => p.name === this.settings.preset)) this.settings = defaultSettings();
      this.api = api;
      this.status = await api.status();
      if (this.running) {
        const h = await api.history();
        this.loss = h.loss;
        this.memory = h.memory;
        this.version++;
      }
    } catch (e) {
      this.report(asFailure(e));
    }
    this.host.requestUpdate();
    this.schedulePlan(0);
  }

  onEvent(e: EngineEvent): void {
    if (e.type === 'train-progress') {
      this.progressEvents++;
      const was = this.status?.state;
      // A run that starts elsewhere (a checkpoint restore) starts a new curve here too.
      const over = !was || was === 'idle' || was === 'stopped' || was === 'done' || was === 'failed';
      if (over && e.status.state === 'running' && e.status.iterations === 0 && (this.loss.length || this.memory.length)) {
        this.loss = [];
        this.memory = [];
      }
      this.status = e.status;
      if (e.status.state === 'failed' && was !== 'failed' && e.status.failure) this.report(e.status.failure);
    } else if (e.type === 'train-loss') {
      this.loss.push(...e.points);
      this.version++;
    } else if (e.type === 'train-memory') {
      this.memory.push(...e.samples);
      if (this.memory.length > MEMORY_KEEP) {
        const half = this.memory.length >> 1;
        this.memory = [...this.memory.slice(0, half).filter((_, i) => i % 2 === 0), ...this.memory.slice(half)];
      }
      this.version++;
    } else return;
    this.host.requestUpdate();
  }

  /** A restored run's loss before this session, drawn ahead of its new points. */
  prefillLoss(history: { step: number; loss: number }[]): void {
    const first = this.loss[0]?.step ?? Number.POSITIVE_INFINITY;
    const before = history.filter((p) => p.step < first).map((p) => ({ step: p.step, loss: p.loss, skipped: false, gradNorm: Number.NaN, ms: 0 }));
    if (!before.length) return;
    this.loss = [...before, ...this.loss];
    this.version++;
    this.host.requestUpdate();
  }

  /** The budget decides the verdict: plan again when it changes. */
  onLedger(s: LedgerSnapshot): void {
    if (this.plannedBudget !== null && s.budget !== this.plannedBudget) {
      this.plannedBudget = s.budget;
      this.schedulePlan();
    }
  }

  change(settings: TrainSettings): void {
    this.settings = settings;
    saveJson(SETTINGS_KEY, settings);
    this.host.requestUpdate();
    this.schedulePlan();
  }

  setSteps(steps: number): void {
    this.steps = steps;
    saveJson(STEPS_KEY, steps);
  }

  /** Takes the planner's suggestion (micro-batch, checkpointing, precision) into the settings. */
  applySuggestion(): void {
    const c = this.suggestion?.config;
    if (!c) return;
    this.change({ ...this.settings, batch: c.batch, microBatch: c.microBatch, checkpointing: c.checkpointing, precision: c.precision });
  }

  start = () => this.run('start', (api) => api.start({ steps: this.steps, settings: this.settings, datasetId: this.datasetId() }));
  pause = () => this.run('pause', (api) => api.pause());
  resume = () => this.run('resume', (api) => api.resume());
  stop = () => this.run('stop', (api) => api.stop());

  private async run(call: Exclude<RunCall, null>, fn: (api: Remote<TrainingApi>) => Promise<TrainingStatus>): Promise<void> {
    if (!this.api || this.call) return;
    this.call = call;
    if (call === 'start') {
      this.loss = [];
      this.memory = [];
      this.version++;
    }
    this.host.requestUpdate();
    const seen = this.progressEvents;
    try {
      const status = await fn(this.api);
      // The worker sends a call's progress events before its answer: when they came, they are as new.
      if (this.progressEvents === seen) this.status = status;
    } catch (e) {
      this.report(asFailure(e));
    } finally {
      this.call = null;
      this.host.requestUpdate();
    }
  }

  private schedulePlan(ms = PLAN_DEBOUNCE_MS): void {
    if (this.timer) clearTimeout(this.timer);
    this.planning = true;
    this.host.requestUpdate();
    this.timer = setTimeout(() => void this.plan(), ms);
  }

  private async plan(): Promise<void> {
    this.timer = null;
    if (!this.api) return;
    const seq = ++this.planSeq;
    const settings = this.settings;
    try {
      const v = await this.api.plan(settings);
      if (seq !== this.planSeq) return;
      this.verdict = v;
      this.planError = null;
      this.suggestion = null;
      this.plannedBudget = (await this.api.status()).ledger?.budget ?? null;
      this.host.requestUpdate();
      if (!v.fits) {
        const s = await this.api.fit(settings);
        if (seq !== this.planSeq) return;
        this.suggestion = s;
      }
    } catch (e) {
      if (seq !== this.planSeq) return;
      this.verdict = null;
      this.suggestion = null;
      this.planError = asFailure(e);
    }
    this.planning = false;
    this.host.requestUpdate();
  }
}

export function defaultSettings(): TrainSettings {
  return { preset: 'unet-tiny' };
}

function loadSettings(): TrainSettings {
  const s = loadJson(SETTINGS_KEY) as TrainSettings | null;
  return s && typeof s.preset === 'string' ? s : defaultSettings();
}

function loadSteps(): number {
  const n = Number(loadJson(STEPS_KEY));
  return Number.isInteger(n) && n > 0 ? n : 200;
}
