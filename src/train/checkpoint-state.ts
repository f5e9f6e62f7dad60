/**
 * What a checkpoint of a UNet training run holds, and how it moves between the GPU and the host:
 * capture(run) reads every piece of state back (in bounded readback batches, one GPU round trip each) into
 * a host snapshot; restore(run, source) writes a snapshot, or a stored checkpoint read tensor by tensor,
 * into a freshly built run so that it continues exactly as the run that never stopped.
 *
 * State of a run: f32 master weights, AdamW's m and v and its GPU step counter, the trainer's step and
 * loss-scaler state, the host RNG and the rest of the epoch's data order. Everything else (the f16 weight
 * copies, gradients, which are zero between steps) is derived. Engine-agnostic: no DOM, no IndexedDB.
 */
import { Rng, type RngState } from '../diffusion/rng.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { cast } from '../tensor/ops/cast.ts';
import { scope } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { DEFAULT_TRAIN, type TrainConfig } from './config.ts';
import type { TrainerState } from './trainer.ts';
import type { UnetTraining } from './unet-training.ts';

/** Bumped when the meaning of a snapshot changes; restore refuses other versions. */
export const SNAPSHOT_FORMAT = 'latent-lab-checkpoint/1';

/** Name prefixes of the state tensors (diffusers names follow the model prefix). */
export const MODEL_PREFIX = 'model/';
export const EXP_AVG_PREFIX = 'optimizer/exp_avg/';
export const EXP_AVG_SQ_PREFIX = 'optimizer/exp_avg_sq/';
export const ADAM_STEP = 'optimizer/step';

/** Readback batches stay under this (and under half of what the budget leaves free). */
export const READBACK_BATCH_BYTES = 64 * 1024 * 1024;
/** Smallest readback batch when the ledger's peak leaves less room (more round trips, same data). */
export const MIN_READBACK_BYTES = 1024 * 1024;

/** The small, JSON-safe part of a checkpoint. */
export interface TrainingState {
  format: string;
  config: TrainConfig;
  /** Applied optimizer steps and the loss scaler's state. */
  trainer: TrainerState;
  rng: { words: RngState; spare: number | null };
  /** The rest of the current epoch's clip order. */
  order: number[];
  /** The dataset the run trains on (null for synthetic data). */
  datasetId: string | null;
  /** Identifies the run across its checkpoints and resumes (autosave prunes per run). */
  runId: string;
}

export interface LossPoint {
  step: number;
  loss: number;
}

export interface TensorInfo {
  name: string;
  shape: readonly number[];
}

/** Anything restore can read from: a host snapshot, or a stored checkpoint that reads tensor by tensor. */
export interface SnapshotSource {
  state: TrainingState;
  tensors: readonly TensorInfo[];
  /** f32 values of one tensor. */
  read(name: string): Promise<Float32Array>;
}

/** A checkpoint on the host, as capture() returns it. */
export interface TrainingSnapshot extends SnapshotSource {
  lossHistory: LossPoint[];
  data: ReadonlyMap<string, Float32Array>;
}

/** The run's state tensors in checkpoint order: master weights, m, v, AdamW's step counter. */
export function stateTensors(run: UnetTraining): { name: string; tensor: Tensor }[] {
  const names = [...run.model.namedParameters()].map(([n]) => n);
  const masters = run.trainer.masterWeights();
  const { m, v, step } = run.trainer.optimizer.state;
  if (masters.length !== names.length || m.length !== names.length) throw new Error('checkpoint: parameters, master weights and optimizer state differ in count');
  return [
    ...names.map((n, i) => ({ name: MODEL_PREFIX + n, tensor: masters[i] })),
    ...names.map((n, i) => ({ name: EXP_AVG_PREFIX + n, tensor: m[i] })),
    ...names.map((n, i) => ({ name: EXP_AVG_SQ_PREFIX + n, tensor: v[i] })),
    { name: ADAM_STEP, tensor: step },
  ];
}

export interface CaptureOptions {
  datasetId?: string | null;
  runId?: string;
  lossHistory?: readonly LossPoint[];
  /** Largest readback batch (default READBACK_BATCH_BYTES, lowered to fit the budget). */
  batchBytes?: number;
}

function hostState(run: UnetTraining, opts: CaptureOptions): TrainingState {
  return {
    format: SNAPSHOT_FORMAT,
    config: structuredClone(run.config),
    trainer: run.trainer.state,
    rng: run.rng.state,
    order: [...run.order],
    datasetId: opts.datasetId ?? null,
    runId: opts.runId ?? newRunId(),
  };
}

/**
 * Reads the run's whole state back to the host. Call it between steps; it only waits for the readback
 * (one map per batch), so a caller can write the snapshot to storage while the next step runs.
 */
export async function capture(run: UnetTraining, opts: CaptureOptions = {}): Promise<TrainingSnapshot> {
  // The host state is taken before any await, so it belongs to the same step as the tensors.
  const state = hostState(run, opts);
  const list = stateTensors(run);
  const rt = run.rt;
  const values = await rt.ledger.inPhase('checkpoint', () => readBack(rt, list.map((t) => t.tensor), opts.batchBytes));
  const data = new Map(list.map((t, i) => [t.name, values[i]]));
  return {
    state,
    tensors: list.map((t) => ({ name: t.name, shape: [...t.tensor.shape] })),
    lossHistory: (opts.lossHistory ?? []).map((p) => ({ ...p })),
    data,
    read: (name) => {
      const d = data.get(name);
      return d ? Promise.resolve(d) : Promise.reject(new Error(`the snapshot has no tensor "${name}"`));
    },
  };
}

/** Bytes of the run's state (what a checkpoint holds, the loss history aside). */
export const stateBytes = (run: UnetTraining): number => stateTensors(run).reduce((a, t) => a + t.tensor.numel * 4, 0);

/**
 * A snapshot that reads each tensor from the GPU when the store asks for it, so that the host never holds
 * more than one tensor of a large model. The run must not step until the save that reads it has finished.
 */
export function streamingSnapshot(run: UnetTraining, opts: CaptureOptions = {}): SnapshotSource & { lossHistory: LossPoint[] } {
  const state = hostState(run, opts);
  const list = stateTensors(run);
  const byName = new Map(list.map((t) => [t.name, t.tensor]));
  const step = run.trainer.step;
  return {
    state,
    tensors: list.map((t) => ({ name: t.name, shape: [...t.tensor.shape] })),
    lossHistory: (opts.lossHistory ?? []).map((p) => ({ ...p })),
    read: async (name) => {
      const t = byName.get(name);
      if (!t) throw new Error(`the run has no state tensor "${name}"`);
      if (run.trainer.step !== step) throw new Error('the run stepped while its streaming checkpoint was being written');
      return (await run.rt.ledger.inPhase('checkpoint', () => readBack(run.rt, [t], opts.batchBytes)))[0];
    },
  };
}

/**
 * f32 tensors to the host in batches of at most `batchBytes` (a tensor larger than that is read in
 * ranges), so the staging buffer never needs more than the budget leaves free.
 */
export async function readBack(rt: GpuRuntime, tensors: readonly Tensor[], batchBytes?: number): Promise<Float32Array[]> {
  const limit = readbackLimit(rt, batchBytes);
  const out: (Float32Array | null)[] = tensors.map(() => null);
  type Piece = { t: number; offset: number; bytes: number };
  let batch: Piece[] = [];
  let used = 0;
  const flush = async () => {
    if (!batch.length) return;
    const raw = await rt.readMany(batch.map((p) => ({ buffer: tensors[p.t].buffer, offset: p.offset, bytes: p.bytes })));
    batch.forEach((p, i) => {
      const t = tensors[p.t];
      if (p.offset === 0 && p.bytes === t.numel * 4) out[p.t] = new Float32Array(raw[i]);
      else new Uint8Array((out[p.t] ??= new Float32Array(t.numel)).buffer).set(new Uint8Array(raw[i]), p.offset);
    });
    batch = [];
    used = 0;
  };
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (t.dtype !== 'f32') throw new Error(`checkpoint: state tensor ${t} is ${t.dtype}; checkpoints hold the f32 master weights and optimizer state`);
    const total = t.numel * 4;
    for (let offset = 0; offset < total; offset += limit) {
      const bytes = Math.min(limit, total - offset);
      if (used + bytes > limit) await flush();
      batch.push({ t: i, offset, bytes });
      used += bytes;
    }
  }
  await flush();
  return out.map((o, i) => o ?? new Float32Array(tensors[i].numel));
}

/**
 * The readback batch: at most `wanted`, at most half of what the budget leaves, and, so that a checkpoint
 * does not raise the run's measured peak above the planned one, within the ledger's peak so far (pooled
 * buffers are released to make that room; the next step allocates them again).
 */
function readbackLimit(rt: GpuRuntime, wanted = READBACK_BATCH_BYTES): number {
  const ledger = rt.ledger;
  const s = ledger.snapshot();
  let limit = Math.min(wanted, Number.isFinite(s.budget) ? (s.budget - s.live) / 2 : wanted);
  const room = s.peak - ledger.held;
  if (limit > room && s.pooled > 0) ledger.trim(Math.max(0, s.pooled - (limit - room)));
  limit = Math.min(limit, Math.max(MIN_READBACK_BYTES, s.peak - ledger.held));
  return Math.max(1024, Math.floor(limit / 4) * 4);
}

/** The checkpoint and the run differ: listed, never guessed. */
export class CheckpointMismatchError extends Error {
  override name = 'CheckpointMismatchError';
  constructor(
    readonly problems: string[],
    what = 'this checkpoint does not fit the training run',
  ) {
    super(`${what}:\n${problems.slice(0, 12).map((p) => `  ${p}`).join('\n')}${problems.length > 12 ? `\n  ... and ${problems.length - 12} more` : ''}`);
  }
}

/**
 * Config fields that differ between a checkpoint and a run (every field counts for an exact resume). A field
 * that a checkpoint from an older version lacks counts as its default.
 */
export function configDifferences(saved: TrainConfig, run: TrainConfig): string[] {
  const a = { ...DEFAULT_TRAIN, ...saved } as unknown as Record<string, unknown>;
  const b = { ...DEFAULT_TRAIN, ...run } as unknown as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => `config.${k}: checkpoint ${JSON.stringify(a[k])}, run ${JSON.stringify(b[k])}`);
}

export interface RestoreOptions {
  /** Restore into a run whose config differs (the tensors must still match by name and shape). */
  allowConfigChange?: boolean;
}

/**
 * Writes a checkpoint into `run` (built with the checkpoint's config): weights, optimizer state, step,
 * loss scaler, RNG and data order. Everything is checked before anything is written, so a mismatch
 * leaves the run as it was.
 */
export async function restore(run: UnetTraining, source: SnapshotSource, opts: RestoreOptions = {}): Promise<void> {
  const { state } = source;
  if (state.format !== SNAPSHOT_FORMAT) throw new CheckpointMismatchError([`format "${state.format}"; this version reads "${SNAPSHOT_FORMAT}"`], 'this checkpoint was written by another version');
  const problems = opts.allowConfigChange ? [] : configDifferences(state.config, run.config);
  const targets = stateTensors(run);
  const saved = new Map(source.tensors.map((t) => [t.name, t.shape]));
  for (const { name, tensor } of targets) {
    const shape = saved.get(name);
    if (!shape) problems.push(`${name} [${tensor.shape.join(', ')}] is missing from the checkpoint`);
    else if (shape.join() !== tensor.shape.join()) problems.push(`${name}: checkpoint [${shape.join(', ')}], run [${tensor.shape.join(', ')}]`);
  }
  const wanted = new Set(targets.map((t) => t.name));
  for (const t of source.tensors) if (!wanted.has(t.name)) problems.push(`${t.name} [${t.shape.join(', ')}] is in the checkpoint but not in the run`);
  if (problems.length) throw new CheckpointMismatchError(problems);

  const rt = run.rt;
  await rt.ledger.inPhase('checkpoint', async () => {
    for (const { name, tensor } of targets) {
      const values = await source.read(name);
      if (values.length !== tensor.numel) throw new CheckpointMismatchError([`${name}: ${values.length} values stored for ${tensor.numel} elements`], 'this checkpoint is damaged');
      rt.upload(tensor.buffer, values);
    }
    refreshWeightCopies(run);
  });
  run.trainer.restore(state.trainer);
  run.rng = Rng.restore(state.rng);
  run.order = [...state.order];
}

/**
 * Where the forward reads half-precision copies of the master weights, rewrites them in place with the
 * same cast the trainer uses (bit-identical to what an uninterrupted run holds).
 */
export function refreshWeightCopies(run: UnetTraining): void {
  const masters = run.trainer.masterWeights();
  [...run.model.namedParameters()].forEach(([, p], i) => {
    const copy = p.t;
    if (copy === masters[i]) return;
    noGrad(() =>
      scope(() => {
        const fresh = cast(masters[i], copy.dtype, 'weights');
        run.rt.copy(fresh.buffer, 0, copy.buffer, 0, copy.bytes);
      }),
    );
  });
  run.rt.flush();
}

export const newRunId = (): string => `run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
