import type { GpuRuntime } from '../gpu/runtime.ts';
import { f32ToF16Array, toStorage, type FileDType, type TensorData } from '../io/dtype.ts';
import type { DType } from '../tensor/dtype.ts';
import { Tensor } from '../tensor/tensor.ts';
import { initialTensor, type Module } from './module.ts';

/**
 * Moving weights between a Module and a name -> host-tensor map (a state_dict), with a report of how the
 * names and shapes match. File formats are not known here: the caller adapts .safetensors / .pt readers to
 * a WeightSource (tensors are read one at a time, so multi-GB files never sit in memory whole).
 */
export interface WeightEntry {
  name: string;
  shape: readonly number[];
  dtype: FileDType;
}

export interface WeightSource {
  entries: readonly WeightEntry[];
  read(name: string): Promise<TensorData>;
}

/** A source from tensors already in memory. */
export function memorySource(tensors: ReadonlyMap<string, TensorData>): WeightSource {
  return {
    entries: [...tensors].map(([name, t]) => ({ name, shape: t.shape, dtype: t.dtype })),
    read: async (name) => {
      const t = tensors.get(name);
      if (!t) throw new Error(`no tensor "${name}"`);
      return t;
    },
  };
}

/** Renames a file's key (and reshapes it, same element count) to the model's spelling; null keeps it as is. */
export type ImportRule = (name: string, shape: readonly number[]) => { name: string; shape: readonly number[] } | null;

export interface MatchReport {
  /** Model names found in the file with the right shape. */
  matched: string[];
  /** Model parameters the file does not have. */
  missing: { name: string; shape: readonly number[] }[];
  /** File tensors the model has no parameter for (file spelling). */
  unexpected: { name: string; shape: readonly number[] }[];
  wrongShape: { name: string; expected: readonly number[]; found: readonly number[] }[];
  /** File keys that an import rule renamed or reshaped (e.g. the VAE's old attention spelling). */
  renamed: { from: string; to: string }[];
  ok: boolean;
}

interface Planned {
  fileName: string;
  shape: readonly number[];
}

/** Compares a file's entries with the model's expected names and shapes. */
export function matchStateDict(expected: ReadonlyMap<string, readonly number[]>, entries: readonly Pick<WeightEntry, 'name' | 'shape'>[], rule?: ImportRule): MatchReport {
  return plan(expected, entries, rule).report;
}

function plan(expected: ReadonlyMap<string, readonly number[]>, entries: readonly Pick<WeightEntry, 'name' | 'shape'>[], rule?: ImportRule) {
  const byModelName = new Map<string, Planned>();
  const report: MatchReport = { matched: [], missing: [], unexpected: [], wrongShape: [], renamed: [], ok: false };
  for (const e of entries) {
    const mapped = rule?.(e.name, e.shape) ?? null;
    const name = mapped?.name ?? e.name;
    const shape = mapped?.shape ?? e.shape;
    if (mapped && (mapped.name !== e.name || mapped.shape.join() !== e.shape.join())) report.renamed.push({ from: e.name, to: name });
    const want = expected.get(name);
    if (!want || byModelName.has(name)) report.unexpected.push({ name: e.name, shape: e.shape });
    else if (want.join() !== shape.join()) report.wrongShape.push({ name, expected: want, found: e.shape });
    else byModelName.set(name, { fileName: e.name, shape });
  }
  for (const [name, shape] of expected) {
    if (byModelName.has(name)) report.matched.push(name);
    else if (!report.wrongShape.some((w) => w.name === name)) report.missing.push({ name, shape });
  }
  report.ok = report.missing.length === 0 && report.unexpected.length === 0 && report.wrongShape.length === 0;
  return { report, byModelName };
}

/** A readable summary of what does not match (the first few of each kind). */
export function describeMismatch(r: MatchReport, limit = 8): string {
  const lines: string[] = [];
  const list = <T>(title: string, xs: T[], fmt: (x: T) => string) => {
    if (!xs.length) return;
    lines.push(`${xs.length} ${title}:`);
    for (const x of xs.slice(0, limit)) lines.push(`  ${fmt(x)}`);
    if (xs.length > limit) lines.push(`  ... and ${xs.length - limit} more`);
  };
  list('missing from the file', r.missing, (m) => `${m.name} [${m.shape.join(', ')}]`);
  list('unexpected in the file', r.unexpected, (u) => `${u.name} [${u.shape.join(', ')}]`);
  list('with the wrong shape', r.wrongShape, (w) => `${w.name}: model [${w.expected.join(', ')}], file [${w.found.join(', ')}]`);
  return lines.join('\n');
}

export class StateDictMismatchError extends Error {
  constructor(readonly report: MatchReport) {
    super(`the weights do not match the model (${report.matched.length} tensors match)\n${describeMismatch(report)}`);
    this.name = 'StateDictMismatchError';
  }
}

export interface LoadOptions {
  /** Storage dtype of the loaded weights (default f32); file dtypes F32, F16 and BF16 convert. */
  dtype?: DType;
  /** Refuse any mismatch before allocating anything (default true). */
  strict?: boolean;
  /** Non-strict loads initialize what the file lacks with the default init from this seed. */
  seed?: number;
  requiresGrad?: boolean;
  /** Defaults to the model's own importRule. */
  rule?: ImportRule;
}

/**
 * Loads a state_dict into `model` (materializing its parameters). Strict by default: a file that does not
 * match throws StateDictMismatchError naming what is missing, unexpected or of the wrong shape.
 * On the meta device the ledger sees the same allocations and nothing is read.
 */
export async function loadStateDict(model: Module, rt: GpuRuntime, source: WeightSource, opts: LoadOptions = {}): Promise<MatchReport> {
  const { dtype = 'f32', strict = true, seed = 0, requiresGrad = true, rule = model.importRule } = opts;
  const { report, byModelName } = plan(model.expectedShapes(), source.entries, rule);
  if (strict && !report.ok) throw new StateDictMismatchError(report);
  for (const [name, p] of model.namedParameters()) {
    const planned = byModelName.get(name);
    if (!planned) {
      if (!p.tensor) p.set(initialTensor(rt, name, p, { dtype, init: 'default', seed }), requiresGrad);
      continue;
    }
    if (rt.isMeta) {
      p.set(Tensor.empty(rt, p.shape, dtype, 'weights', name), requiresGrad);
      continue;
    }
    const values = toStorage(await source.read(planned.fileName), 'f32', planned.fileName);
    p.set(Tensor.fromArray(rt, values, p.shape, dtype, 'weights', name), requiresGrad);
  }
  return report;
}

/** Reads every parameter back to the host as a state_dict (F32, or F16 to halve a checkpoint). */
export async function exportStateDict(model: Module, opts: { dtype?: 'F32' | 'F16' } = {}): Promise<Map<string, TensorData>> {
  const out = new Map<string, TensorData>();
  for (const [name, p] of model.namedParameters()) {
    const values = await p.t.toArray();
    out.set(name, opts.dtype === 'F16' ? { dtype: 'F16', shape: p.shape, data: f32ToF16Array(values) } : { dtype: 'F32', shape: p.shape, data: values });
  }
  return out;
}
