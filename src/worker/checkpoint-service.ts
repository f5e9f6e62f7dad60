/**
 * The engine's checkpoint service (engine.checkpoints in the worker): autosave of the training session,
 * manual saves at a step boundary, restore as a new run that continues exactly, export and import of
 * weights files, storage usage, and recovery after a lost device or a GPU out-of-memory: the session stops,
 * the write in flight finishes (it only needs host memory), the engine gets a new device and the last
 * checkpoint of the run is offered for resuming. Every method rejects with an EngineFailure.
 */
import { CheckpointDamagedError, CheckpointQuotaError, CheckpointStore, type CheckpointManifest } from '../store/checkpoint-store.ts';
import { Autosaver, DEFAULT_AUTOSAVE, type AutosavePolicy, type PendingWrite } from '../train/autosave.ts';
import { importWeights, exportCheckpoint, openWeights, type WeightsBlob } from '../train/checkpoint-export.ts';
import { CheckpointMismatchError, newRunId, restore, type LossPoint, type SnapshotSource } from '../train/checkpoint-state.ts';
import { modelFromConfig } from '../nn/presets.ts';
import { describeMismatch, matchStateDict, StateDictMismatchError } from '../nn/state-dict.ts';
import type { StepResult } from '../train/trainer.ts';
import { unetModelConfig, type UnetTraining } from '../train/unet-training.ts';
import { failure, isEngineFailure, type EngineEvent, type EngineFailure } from './api.ts';
import type { AutosaveSettings, CheckpointApi, CheckpointInfo, CheckpointStorage, ResumeOffer, WeightsImport } from './checkpoint-api.ts';
import { toFailure } from './failures.ts';
import type { DatasetConfig } from '../store/dataset-store.ts';
import type { TrainingStatus } from './training-api.ts';
import type { TrainingService } from './training-service.ts';
import type { TrainingSession } from './training-session.ts';

export interface CheckpointHost {
  training: TrainingService;
  /** The checkpoint store: IndexedDB in the worker, memory or a directory in Node. */
  store: () => Promise<CheckpointStore>;
  emit(e: EngineEvent): void;
  /** Gets a new device after a loss (the engine's init with its budget). */
  reinit(): Promise<unknown>;
  /** A dataset's config (null when it is gone): an export records it for lip sync. */
  datasetConfig?: (datasetId: string) => Promise<DatasetConfig | null>;
}

/** What the service knows of the run that is going (set when it starts). */
interface CurrentRun {
  run: UnetTraining;
  runId: string;
  datasetId: string | null;
  /** Loss points before this session (a restored run's history). */
  before: LossPoint[];
  autosaver: Autosaver;
  /** A manual save asked for while a step is running: done at the next step boundary. */
  requested: { opts: { label?: string; pinned?: boolean }; resolve: (m: CheckpointManifest) => void; reject: (e: unknown) => void }[];
  /** The step of the last save started, so stopping or finishing does not save the same step twice. */
  savedStep: number;
  /** During afterStep: the step's loss, which the session records only after the hook. */
  stepPoint: LossPoint | null;
}

export class CheckpointService implements CheckpointApi {
  private policy: AutosavePolicy = { ...DEFAULT_AUTOSAVE };
  private current: CurrentRun | null = null;
  private pendingRestore: { source: SnapshotSource; manifest: CheckpointManifest; history: LossPoint[] } | null = null;
  private pendingWeights: { file: WeightsBlob; partial: boolean } | null = null;
  private offer: ResumeOffer | null = null;
  private recovering: Promise<void> | null = null;

  constructor(private readonly host: CheckpointHost) {}

  // ---- hooks the training service calls

  /** Before a new run's first step: a restore or imported weights go in, and its autosaver is set up. */
  async beforeStart(run: UnetTraining, datasetId: string | null): Promise<void> {
    const restoring = this.pendingRestore;
    const weights = this.pendingWeights;
    this.pendingRestore = null;
    let runId = newRunId();
    let before: LossPoint[] = [];
    if (restoring) {
      await restore(run, restoring.source);
      runId = restoring.manifest.runId;
      before = restoring.history;
    } else if (weights) {
      await importWeights(run, weights.file, { partial: weights.partial });
      this.pendingWeights = null;
    }
    this.offer = null;
    const store = await this.host.store();
    const autosaver = new Autosaver(store, this.policy, {
      runId,
      datasetId,
      last: { step: run.trainer.step, at: Date.now() },
      lossHistory: () => this.lossHistoryOf(run),
      onSaved: (m) => this.host.emit({ type: 'checkpoint-saved', checkpoint: info(m) }),
      onError: (e) => this.host.emit({ type: 'checkpoint-failed', failure: checkpointFailure(e) }),
    });
    this.current = { run, runId, datasetId, before, autosaver, requested: [], savedStep: run.trainer.step, stepPoint: null };
  }

  /** After every step: manual saves asked for, autosave when due, and a last save when the run ends. */
  async afterStep(session: TrainingSession, result: StepResult): Promise<void> {
    const cur = this.current;
    if (!cur || cur.run !== session.run) return;
    cur.stepPoint = { step: result.step, loss: result.loss };
    try {
      await this.saveIfDue(session, cur);
    } finally {
      cur.stepPoint = null;
    }
  }

  private async saveIfDue(session: TrainingSession, cur: CurrentRun): Promise<void> {
    const step = session.run.trainer.step;
    const requested = cur.requested.splice(0);
    for (const r of requested) {
      const { written } = await this.startSave(cur, r.opts);
      void written.then((m) => (m ? r.resolve(m) : r.reject(cur.autosaver.lastError)));
    }
    if (requested.length) return;
    const ending = session.state === 'stopping' || step >= session.steps;
    if (ending && step > cur.savedStep) {
      await this.startSave(cur, { auto: true });
      return;
    }
    const write = await cur.autosaver.afterStep(session.run);
    if (write) cur.savedStep = step;
  }

  /** A stop asked for while paused ran no step after it: the steps since the last save are saved here. */
  async beforeStop(session: TrainingSession): Promise<void> {
    const cur = this.current;
    if (!cur || cur.run !== session.run || session.run.trainer.step <= cur.savedStep) return;
    await this.startSave(cur, { auto: true });
  }

    /** Sees every event the training service emits: a run that failed on the GPU gets a resume offer. */
  onTrainingEvent(e: EngineEvent): void {
    if (e.type !== 'train-progress' || e.status.state !== 'failed' || !e.status.failure) return;
    const reason = e.status.failure;
    if (!['device-lost', 'gpu-allocation', 'budget-exceeded'].includes(reason.code)) return;
    this.recovering ??= this.recover(reason).finally(() => (this.recovering = null));
  }

  /** Settles when recovery after a failed run (write in flight, new device, offer) is over. */
  async recovered(): Promise<void> {
    await this.recovering;
  }

  private async recover(reason: EngineFailure): Promise<void> {
    const cur = this.current;
    this.current = null;
    if (!cur) return;
    for (const r of cur.requested.splice(0)) r.reject(reason);
    // The write in flight only needs host memory: let it finish, so the newest checkpoint is whole.
    await cur.autosaver.flush();
    let deviceReady = reason.code !== 'device-lost';
    if (reason.code === 'device-lost') {
      try {
        await this.host.reinit();
        deviceReady = true;
      } catch {
        deviceReady = false; // the UI's own init will report why
      }
    }
    const store = await this.host.store();
    const latest = await store.latest(cur.runId);
    if (!latest) return;
    this.offer = { checkpoint: info(latest), reason, deviceReady };
    this.host.emit({ type: 'resume-offer', offer: this.offer });
  }

  // ---- the protocol

  list(): Promise<CheckpointInfo[]> {
    return guard(async () => (await (await this.host.store()).list()).map(info));
  }

  save(opts: { label?: string; pinned?: boolean } = {}): Promise<CheckpointInfo> {
    return guard(async () => {
      const session = this.host.training.session;
      const cur = this.current;
      if (!session || session.isOver || !cur || cur.run !== session.run)
        throw failure('training-state', 'There is no run to save.', 'Start a run, or restore a checkpoint, first.');
      if (session.state === 'paused') {
        const m = await (await this.startSave(cur, opts)).written;
        if (!m) throw cur.autosaver.lastError;
        return info(m);
      }
      // A step is in flight: the state is consistent only between steps.
      const m = await new Promise<CheckpointManifest>((resolve, reject) => cur.requested.push({ opts, resolve, reject }));
      return info(m);
    });
  }

  restore(id: string, opts: { steps: number }): Promise<TrainingStatus> {
    return guard(async () => {
      const store = await this.host.store();
      const ckpt = await store.open(id);
      const manifest = ckpt.manifest;
      const steps = opts?.steps;
      if (!Number.isInteger(steps) || steps <= manifest.step)
        throw failure('bad-request', `The checkpoint is at step ${manifest.step}; a resumed run must train to a later step, not ${steps}.`, `Ask for more than ${manifest.step} steps.`);
      this.pendingRestore = { source: ckpt, manifest, history: await ckpt.lossHistory() };
      try {
        return await this.host.training.start({ steps, settings: manifest.state.config, datasetId: manifest.datasetId });
      } finally {
        this.pendingRestore = null;
      }
    });
  }

  pin(id: string, pinned: boolean): Promise<CheckpointInfo> {
    return guard(async () => info(await (await this.host.store()).pin(id, pinned)));
  }

  rename(id: string, label: string): Promise<CheckpointInfo> {
    return guard(async () => info(await (await this.host.store()).rename(id, String(label).slice(0, 200))));
  }

  delete(id: string): Promise<void> {
    return guard(async () => {
      await (await this.host.store()).delete(id);
      if (this.offer?.checkpoint.id === id) this.offer = null;
    });
  }

  export(id: string, format: 'safetensors' | 'pt', opts: { f16?: boolean } = {}): Promise<Blob> {
    return guard(async () => {
      if (format !== 'safetensors' && format !== 'pt') throw failure('bad-request', `Unknown export format "${String(format)}".`, 'Choose safetensors or pt.');
      const ckpt = await (await this.host.store()).open(id);
      const datasetId = ckpt.manifest.datasetId;
      const dataset = datasetId && this.host.datasetConfig ? await this.host.datasetConfig(datasetId) : null;
      const parts = await exportCheckpoint(ckpt, format, { dtype: opts.f16 ? 'F16' : 'F32', dataset });
      return new Blob(parts, { type: 'application/octet-stream' });
    });
  }

  importWeights(file: Blob, opts: { partial?: boolean } = {}): Promise<WeightsImport> {
    return guard(async () => {
      const partial = Boolean(opts.partial);
      const weights = await openWeights(file);
      const session = this.host.training.session;
      const live = session && !session.isOver ? session : null;
      if (live && live.state !== 'paused') throw failure('training-state', `The run is ${live.state}.`, 'Pause it before loading weights into it.');
      const base = { format: weights.format, partial, globalStep: weights.globalStep ?? null };
      if (live) {
        const r = await importWeights(live.run, weights, { partial });
        return { ...base, appliesTo: 'run', loaded: r.loaded, skipped: r.skipped, renamed: r.renamed };
      }
      // No run: check against the configured model now, load when the next run starts.
      const config = (await this.host.training.status()).config;
      if (!config) throw failure('bad-request', 'No model is chosen yet, so the weights cannot be matched.', 'Choose a preset first, then load the weights.');
      const model = modelFromConfig(unetModelConfig(config));
      const report = matchStateDict(model.expectedShapes(), weights.entries, model.importRule);
      if (!report.matched.length || (!report.ok && !partial)) throw new StateDictMismatchError(report);
      this.pendingWeights = { file: weights, partial };
      return {
        ...base,
        appliesTo: 'next-run',
        loaded: report.matched.length,
        renamed: report.renamed,
        skipped: [
          ...report.missing.map((m) => ({ name: m.name, why: 'missing from the file', shape: m.shape })),
          ...report.unexpected.map((u) => ({ name: u.name, why: 'not in the model', shape: u.shape })),
          ...report.wrongShape.map((w) => ({ name: w.name, why: 'wrong shape', shape: w.found })),
        ],
      };
    });
  }

  lossHistory(id: string): Promise<{ step: number; loss: number }[]> {
    return guard(async () => (await (await this.host.store()).open(id)).lossHistory());
  }

  autosave(): Promise<AutosaveSettings> {
    return Promise.resolve({ ...this.policy });
  }

  setAutosave(s: AutosaveSettings): Promise<AutosaveSettings> {
    return guard(async () => {
      const positive = (v: unknown) => v === null || (typeof v === 'number' && v > 0 && Number.isFinite(v));
      if (!s || !positive(s.everySteps) || !positive(s.everyMinutes) || !(Number.isInteger(s.keepLast) && s.keepLast >= 1))
        throw failure('bad-request', 'Autosave needs a positive step count or minutes (or off), and at least one checkpoint kept.', 'Check the autosave settings.');
      this.policy = { everySteps: s.everySteps === null ? null : Math.round(s.everySteps), everyMinutes: s.everyMinutes, keepLast: s.keepLast };
      if (this.current) this.current.autosaver.policy = this.policy;
      return { ...this.policy };
    });
  }

  storage(): Promise<CheckpointStorage> {
    return guard(async () => (await this.host.store()).storage());
  }

  persist(): Promise<boolean | null> {
    return guard(async () => (await this.host.store()).persist());
  }

  resumeOffer(): Promise<ResumeOffer | null> {
    return Promise.resolve(this.offer);
  }

  // ---- helpers

  private startSave(cur: CurrentRun, opts: { label?: string; pinned?: boolean; auto?: boolean }): Promise<PendingWrite> {
    cur.savedStep = cur.run.trainer.step;
    return cur.autosaver.save(cur.run, { auto: false, ...opts });
  }

  private lossHistoryOf(run: UnetTraining): LossPoint[] {
    const cur = this.current;
    const session = this.host.training.session;
    const now = session && session.run === run ? session.history().loss.map((p) => ({ step: p.step, loss: p.loss })) : [];
    if (!cur || cur.run !== run) return now;
    return [...cur.before, ...now, ...(cur.stepPoint ? [cur.stepPoint] : [])];
  }
}

export function info(m: CheckpointManifest): CheckpointInfo {
  return {
    id: m.id,
    label: m.label,
    step: m.step,
    createdAt: m.createdAt,
    pinned: m.pinned,
    auto: m.auto,
    runId: m.runId,
    datasetId: m.datasetId,
    preset: m.preset,
    config: m.state.config,
    bytes: m.bytes,
    lossCount: m.lossCount,
    lastLoss: m.lastLoss,
  };
}

/** Checkpoint errors as the UI shows them; everything else as the engine's failures. */
export function checkpointFailure(e: unknown): EngineFailure {
  if (isEngineFailure(e)) return e;
  if (e instanceof CheckpointQuotaError) return failure('storage-full', e.message, 'Delete unpinned checkpoints or datasets, keep fewer autosaves, or export the run and delete it here.');
  if (e instanceof StateDictMismatchError) return failure('weights-mismatch', e.message, 'Use weights saved from the same model preset, or load partially to skip what does not match.', describeMismatch(e.report, 100));
  if (e instanceof CheckpointMismatchError) return failure('weights-mismatch', e.message, 'Restore it with the configuration it was saved with.');
  if (e instanceof CheckpointDamagedError) return failure('checkpoint-damaged', e.message, 'Restore an earlier checkpoint, or delete this one.');
  if (e instanceof Error && e.name === 'CheckpointFormatError') return failure('bad-request', e.message, 'Choose a .safetensors or PyTorch .pt file.');
  return toFailure(e);
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw checkpointFailure(e);
  }
}
