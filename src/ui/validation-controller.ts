import type { Remote } from 'comlink';
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { EngineEvent, EngineFailure, LabEngine, TrainingApi, TrainingStatus, TrainValidation } from '../worker/api.ts';
import { asFailure } from './engine-client.ts';

/** Validations the gallery keeps (each holds a few small frames). */
const KEEP = 8;

/**
 * The validation side of the page: the run's validation results (scheduled and asked for), which one is
 * shown, a "Validate now" call in flight and the last validation failure. lab-app forwards the engine's
 * training events here. Talks to the engine only through worker/api.ts types.
 */
export class ValidationController implements ReactiveController {
  /** Oldest first. */
  results: TrainValidation[] = [];
  /** The result shown; null follows the newest. */
  selected: TrainValidation | null = null;
  busy = false;
  /** Why the last validation could not run (asked for or scheduled); cleared by the next one or dismiss(). */
  error: EngineFailure | null = null;
  private api: Remote<TrainingApi> | null = null;
  private state: TrainingStatus['state'] | null = null;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {}

  get ready(): boolean {
    return this.api !== null;
  }

  get shown(): TrainValidation | null {
    return this.selected ?? this.results.at(-1) ?? null;
  }

  /** The engine is up: catch up with the validations of a run already going (or just ended). */
  async connect(engine: Remote<LabEngine>): Promise<void> {
    // Comlink reaches nested objects by path; its types do not follow non-function members.
    const api = engine.training as unknown as Remote<TrainingApi>;
    try {
      const h = await api.history();
      this.results = h.validations.slice(-KEEP);
      this.api = api;
    } catch (e) {
      this.error = asFailure(e);
    }
    this.host.requestUpdate();
  }

  onEvent(e: EngineEvent): void {
    if (e.type === 'train-validation') {
      this.add(e.result);
      this.error = null;
    } else if (e.type === 'train-validation-failed') {
      this.error = e.failure;
    } else if (e.type === 'train-progress') {
      // A new run validates a new model: the last run's results go.
      const was = this.state;
      this.state = e.status.state;
      const over = was === null || was === 'idle' || was === 'stopped' || was === 'done' || was === 'failed';
      if (!(over && e.status.state === 'running' && e.status.iterations === 0 && this.results.length)) return;
      this.results = [];
      this.selected = null;
    } else return;
    this.host.requestUpdate();
  }

  select(result: TrainValidation | null): void {
    this.selected = result === this.results.at(-1) ? null : result;
    this.host.requestUpdate();
  }

  dismiss(): void {
    this.error = null;
    this.host.requestUpdate();
  }

  /** Validates the run's model now (between steps, or at once while paused). */
  validateNow = async (): Promise<void> => {
    if (!this.api || this.busy) return;
    this.busy = true;
    this.error = null;
    this.host.requestUpdate();
    try {
      // The result comes as an event too; whichever arrives second is the same result.
      this.add(await this.api.validate());
      this.selected = null;
    } catch (e) {
      this.error = asFailure(e);
    } finally {
      this.busy = false;
      this.host.requestUpdate();
    }
  };

  private add(r: TrainValidation): void {
    if (this.results.some((x) => x.step === r.step && x.ms === r.ms && x.trigger === r.trigger)) return;
    this.results = [...this.results, r].slice(-KEEP);
  }
}
