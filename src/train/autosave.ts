/**
 * Autosave: when to save (every N steps or M minutes, whichever comes first), which checkpoints to keep
 * (the last K of a run plus every pinned one), and an Autosaver that a training loop calls after each step.
 * Saving stalls the loop only for the GPU readback; the write to storage runs while the next steps train.
 */
import type { CheckpointManifest, CheckpointStore } from '../store/checkpoint-store.ts';
import { capture, stateBytes, streamingSnapshot, type LossPoint } from './checkpoint-state.ts';
import type { UnetTraining } from './unet-training.ts';

export interface AutosavePolicy {
  /** Save when this many steps passed since the last save (null: never by steps). */
  everySteps: number | null;
  /** Save when this many minutes passed since the last save (null: never by time). */
  everyMinutes: number | null;
  /** Unpinned checkpoints of a run to keep (the newest); pinned ones are always kept. */
  keepLast: number;
}

export const DEFAULT_AUTOSAVE: AutosavePolicy = { everySteps: 500, everyMinutes: 15, keepLast: 3 };

/** States up to this size are copied to the host and written while training goes on; larger ones stream. */
export const HOST_COPY_BYTES = 2 * 1024 ** 3;

/** The last save (or the run's start): its step and wall-clock time in ms. */
export interface SavePoint {
  step: number;
  at: number;
}

/** True when a save is due at `now`. A step that saved nothing new (same step) never is. */
export function autosaveDue(policy: AutosavePolicy, last: SavePoint, now: SavePoint): boolean {
  if (now.step <= last.step) return false;
  if (policy.everySteps !== null && now.step - last.step >= policy.everySteps) return true;
  return policy.everyMinutes !== null && now.at - last.at >= policy.everyMinutes * 60_000;
}

export interface PruneCandidate {
  id: string;
  runId: string;
  step: number;
  createdAt: number;
  pinned: boolean;
}

/** Ids to delete: a run's unpinned checkpoints beyond the newest `keepLast` (by step, then time). */
export function pruneSelection(checkpoints: readonly PruneCandidate[], runId: string, keepLast: number): string[] {
  const unpinned = checkpoints.filter((c) => c.runId === runId && !c.pinned).sort((a, b) => b.step - a.step || b.createdAt - a.createdAt);
  return unpinned.slice(Math.max(0, keepLast)).map((c) => c.id);
}

/** A checkpoint write running in the background. */
export interface PendingWrite {
  written: Promise<CheckpointManifest | null>;
}

export interface AutosaverOptions {
  runId: string;
  datasetId?: string | null;
  /** The run's loss history so far (read at each save). */
  lossHistory?: () => readonly LossPoint[];
  /** Where the last save happened; the run's start by default. */
  last?: SavePoint;
  now?: () => number;
  /** A background save failed (quota, storage gone): training goes on, the caller tells the user. */
  onError?: (e: unknown) => void;
  onSaved?: (m: CheckpointManifest) => void;
  /** See HOST_COPY_BYTES. */
  hostCopyBytes?: number;
}

/**
 * Call afterStep(run) after every optimizer step. When a save is due it reads the state back (the only
 * part that waits) and starts the write, then prunes the run's old checkpoints once the new one is whole.
 * A save due while another is still being written waits for the next step (no queue of host copies).
 */
export class Autosaver {
  private last: SavePoint;
  private writing: Promise<CheckpointManifest | null> | null = null;
  lastError: unknown = null;
  lastSaved: CheckpointManifest | null = null;

  constructor(
    readonly store: CheckpointStore,
    public policy: AutosavePolicy,
    private readonly opts: AutosaverOptions,
  ) {
    this.last = opts.last ?? { step: 0, at: this.now() };
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** The write in flight, if any. */
  get inFlight(): Promise<CheckpointManifest | null> | null {
    return this.writing;
  }

  /**
   * Saves when due. Resolves once the state is read back, with the background write (already running; it
   * resolves to null when it failed, see onError), or null when nothing was started.
   */
  async afterStep(run: UnetTraining): Promise<PendingWrite | null> {
    const now = { step: run.trainer.step, at: this.now() };
    if (this.writing || !autosaveDue(this.policy, this.last, now)) return null;
    return this.save(run, { auto: true });
  }

  /**
   * Saves now (a manual save, or the last one before stopping); waits for a write in flight first. A state
   * larger than hostCopyBytes is not copied to the host whole: it streams tensor by tensor from the GPU to
   * storage, and this resolves only once it is written (the run must not step meanwhile).
   */
  async save(run: UnetTraining, opts: { auto?: boolean; pinned?: boolean; label?: string } = {}): Promise<PendingWrite> {
    if (this.writing) await this.writing;
    const what = { runId: this.opts.runId, datasetId: this.opts.datasetId ?? null, lossHistory: this.opts.lossHistory?.() };
    const streaming = stateBytes(run) > (this.opts.hostCopyBytes ?? HOST_COPY_BYTES);
    const snapshot = streaming ? streamingSnapshot(run, what) : await capture(run, what);
    this.last = { step: run.trainer.step, at: this.now() };
    const write = this.store
      .save(snapshot, opts)
      .then(async (m) => {
        this.lastSaved = m;
        this.opts.onSaved?.(m);
        await this.store.prune(this.opts.runId, this.policy.keepLast);
        return m;
      })
      .catch((e: unknown) => {
        this.lastError = e;
        this.opts.onError?.(e);
        return null;
      })
      .finally(() => {
        if (this.writing === write) this.writing = null;
      });
    this.writing = write;
    if (streaming) await write;
    // Wrapped: an async function returning the promise itself would wait for the write.
    return { written: write };
  }

  /** Waits for the write in flight (before closing, or after a device loss: host data is safe). */
  async flush(): Promise<CheckpointManifest | null> {
    return (await this.writing) ?? this.lastSaved;
  }
}
