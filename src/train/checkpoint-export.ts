/**
 * Checkpoints as files PyTorch users load, and weights files back into a run:
 * - .safetensors: the model's weights under diffusers names; metadata holds the format version, the
 *   model config JSON, the training config JSON, the step and the dataset's config JSON when known.
 * - .pt as LatentSync saves it: torch.save({"global_step": step, "state_dict": OrderedDict}), which
 *   torch.load(weights_only=True) opens.
 * Import: .safetensors or .pt (sniffed, not guessed from the name). Names and shapes are matched against
 * the model and every mismatch is listed; a partial load (torch's strict=False) happens only when asked,
 * and the report lists what was skipped. Browser-safe (Blobs); the CLI opens files as Blobs too.
 */
import { byteSource, type BinaryInput, type BlobBytes } from '../io/byte-source.ts';
import { toStorage, f32ToF16Array, type TensorData } from '../io/dtype.ts';
import { openSafetensors, safetensorsParts } from '../io/safetensors.ts';
import { openTorchCheckpoint, torchCheckpointParts } from '../io/torch-pt.ts';
import { unetModelConfig, type UnetTraining } from './unet-training.ts';
import { matchStateDict, StateDictMismatchError, type MatchReport, type WeightSource } from '../nn/state-dict.ts';
import { MODEL_PREFIX, refreshWeightCopies, type SnapshotSource } from './checkpoint-state.ts';
import type { DatasetConfig } from '../store/dataset-store.ts';

/** Written into every exported file's metadata; bumped when the layout changes. */
export const EXPORT_FORMAT = 'latent-lab/1';

export type ExportFormat = 'safetensors' | 'pt';

/** The model's weights of a checkpoint, under diffusers names, in the model's order. */
export async function checkpointWeights(source: SnapshotSource, dtype: 'F32' | 'F16' = 'F32'): Promise<Map<string, TensorData>> {
  const out = new Map<string, TensorData>();
  for (const t of source.tensors) {
    if (!t.name.startsWith(MODEL_PREFIX)) continue;
    const values = await source.read(t.name);
    out.set(t.name.slice(MODEL_PREFIX.length), dtype === 'F16' ? { dtype: 'F16', shape: t.shape, data: f32ToF16Array(values) } : { dtype: 'F32', shape: t.shape, data: values });
  }
  return out;
}

/**
 * safetensors metadata (strings only): format version, model config, training config, step, and the config
 * of the dataset it trained on when known (its audio features, token window and mask: what lip sync must
 * give the model, read back by src/sync/unet-file-facts.ts).
 */
export function exportMetadata(source: SnapshotSource, dataset?: DatasetConfig | null): Record<string, string> {
  const { state } = source;
  return {
    format: EXPORT_FORMAT,
    config: JSON.stringify(unetModelConfig(state.config)),
    train_config: JSON.stringify(state.config),
    step: String(state.trainer.step),
    preset: state.config.preset,
    run_id: state.runId,
    ...(state.datasetId ? { dataset_id: state.datasetId } : {}),
    ...(dataset ? { dataset_config: JSON.stringify(dataset) } : {}),
  };
}

export interface ExportOptions {
  dtype?: 'F32' | 'F16';
  /** The config of the checkpoint's dataset, recorded in a .safetensors file's metadata. */
  dataset?: DatasetConfig | null;
}

/** The exported file as parts (for `new Blob(parts)` or writing one after another). */
export async function exportCheckpoint(source: SnapshotSource, format: ExportFormat, opts: ExportOptions = {}): Promise<BlobBytes[]> {
  const weights = await checkpointWeights(source, opts.dtype);
  if (format === 'safetensors') return safetensorsParts(weights, exportMetadata(source, opts.dataset));
  if (format === 'pt') return torchCheckpointParts({ globalStep: source.state.trainer.step, stateDict: weights });
  throw new RangeError(`unknown export format "${String(format)}": use safetensors or pt`);
}

/** A weights file opened for import: tensors are read one at a time. */
export interface WeightsBlob extends WeightSource {
  format: 'safetensors' | 'torch';
  metadata: Record<string, string>;
  globalStep?: number;
}

/** Opens .safetensors or a PyTorch .pt by its first bytes (torch.save writes a zip: "PK"). */
export async function openWeights(input: BinaryInput): Promise<WeightsBlob> {
  const src = byteSource(input);
  const magic = src.size >= 2 ? await src.read(0, 2, 'safetensors') : new Uint8Array(0);
  if (magic[0] === 0x50 && magic[1] === 0x4b) {
    const ckpt = await openTorchCheckpoint(input);
    const refs = ckpt.stateDict;
    return {
      format: 'torch',
      metadata: {},
      globalStep: ckpt.globalStep,
      entries: [...refs].map(([name, r]) => ({ name, shape: r.shape, dtype: r.dtype })),
      read: (name) => {
        const r = refs.get(name);
        if (!r) throw new Error(`the file has no tensor "${name}"`);
        return ckpt.readTensor(r);
      },
    };
  }
  const st = await openSafetensors(input);
  return { format: 'safetensors', metadata: st.metadata, entries: st.entries, read: (name) => st.read(name) };
}

export interface ImportReport extends MatchReport {
  /** Model parameters written from the file. */
  loaded: number;
  /** What a partial load left out and why (empty for a strict load). */
  skipped: { name: string; why: 'missing from the file' | 'not in the model' | 'wrong shape'; shape?: readonly number[] }[];
  partial: boolean;
}

/**
 * Loads a weights file into a run's master weights (the f16 copies follow). Strict unless `partial`: any
 * missing, unexpected or wrongly shaped tensor refuses the whole load (StateDictMismatchError lists them)
 * before anything is written. Partial: matching tensors load; the rest keep their values and are listed.
 * The optimizer state is left as it is.
 */
export async function importWeights(run: UnetTraining, source: WeightSource, opts: { partial?: boolean } = {}): Promise<ImportReport> {
  const model = run.model;
  const report = matchStateDict(model.expectedShapes(), source.entries, model.importRule);
  if (!report.ok && !opts.partial) throw new StateDictMismatchError(report);
  if (!report.matched.length) throw new StateDictMismatchError(report);
  const fileName = new Map(report.renamed.map((r) => [r.to, r.from]));
  const masters = run.trainer.masterWeights();
  const index = new Map([...model.namedParameters()].map(([n], i) => [n, i]));
  // Read and convert everything first: a file that fails half way leaves the run untouched.
  const values = new Map<string, Float32Array>();
  for (const name of report.matched) values.set(name, toStorage(await source.read(fileName.get(name) ?? name), 'f32', name));
  for (const [name, v] of values) run.rt.upload(masters[index.get(name)!].buffer, v);
  refreshWeightCopies(run);
  return {
    ...report,
    loaded: values.size,
    partial: Boolean(opts.partial),
    skipped: [
      ...report.missing.map((m) => ({ name: m.name, why: 'missing from the file' as const, shape: m.shape })),
      ...report.unexpected.map((u) => ({ name: u.name, why: 'not in the model' as const, shape: u.shape })),
      ...report.wrongShape.map((w) => ({ name: w.name, why: 'wrong shape' as const, shape: w.found })),
    ],
  };
}
