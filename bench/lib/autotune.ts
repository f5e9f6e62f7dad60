/**
 * A small measured autotune of the GEMM tile shapes (the override constants WG_X, WG_Y, TK of
 * shaders/matmul.wgsl and shaders/conv2d.wgsl), applied through the objects the ops already export
 * (matmulTiles, conv2dTiles): no kernel or op file changes. Each candidate that fits the adapter's limits
 * must first give the default tiles' output; then all are timed round-robin on a few representative shapes
 * (the fastest of several rounds, summed over the shapes); the fastest wins. Results are cached per adapter name in memory, and through a TuneStore (a JSON file in
 * Node, see autotune-file.ts). DOM-free.
 */
import type { DeviceLimits } from '../../src/gpu/device.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { conv2d, conv2dTiles } from '../../src/tensor/ops/conv2d.ts';
import { matmul, matmulTiles } from '../../src/tensor/ops/matmul.ts';
import { scope } from '../../src/tensor/scope.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { numel, randn } from './random.ts';
import { maxRelError, median } from './stats.ts';
import type { GpuTimer, MeasureOptions } from './timer.ts';

export interface Tiles {
  WG_X: number;
  WG_Y: number;
  TK: number;
}

export type TunedKernel = 'matmul' | 'conv2d';

export interface CandidateResult {
  tiles: Tiles;
  /** The fastest round's time summed over the shapes, ms (null: rejected); what the choice is made on. */
  ms: number | null;
  /** The median round's. */
  medianMs?: number;
  /** Why a candidate was rejected (wrong output, or a GPU error). */
  rejected?: string;
}

export interface KernelTune {
  best: Tiles;
  shapes: string[];
  candidates: CandidateResult[];
  /** Default time / best time. */
  gain: number;
}

export interface TuneEntry {
  adapter: string;
  date: string;
  method: string;
  kernels: Partial<Record<TunedKernel, KernelTune>>;
}

/** Where tuned entries persist between runs (a JSON file in Node; nothing in a page). */
export interface TuneStore {
  load(adapter: string): TuneEntry | null;
  save(entry: TuneEntry): void;
}

export const DEFAULT_TILES: Record<TunedKernel, Tiles> = { matmul: { ...matmulTiles }, conv2d: { ...conv2dTiles } };
const LIVE: Record<TunedKernel, Tiles> = { matmul: matmulTiles, conv2d: conv2dTiles };

const SHAPES: Record<'tiny' | 'default', Record<TunedKernel, number[][]>> = {
  // matmul: [M, K, N]; conv2d: [n, cin, h, cout] (3x3, stride 1, padding 1)
  tiny: { matmul: [[24, 40, 16]], conv2d: [[1, 6, 8, 8]] },
  default: { matmul: [[256, 256, 256], [1024, 320, 320]], conv2d: [[1, 32, 32, 32], [1, 64, 16, 64]] },
};

/** Tile shapes to try: threads per workgroup within the limit, workgroup tiles within its memory. */
export function tileCandidates(kernel: TunedKernel, limits: DeviceLimits): Tiles[] {
  const all: [number, number, number][] = [
    [8, 8, 16], [8, 8, 8], [8, 8, 32], [4, 4, 16], [4, 4, 32], [8, 4, 16], [4, 8, 16], [16, 8, 8], [16, 16, 8], [16, 16, 16],
  ];
  return all
    .map(([WG_X, WG_Y, TK]) => ({ WG_X, WG_Y, TK }))
    .filter((t) => t.WG_X * t.WG_Y <= limits.maxComputeInvocationsPerWorkgroup && t.WG_X <= limits.maxComputeWorkgroupSizeX && t.WG_Y <= limits.maxComputeWorkgroupSizeY)
    .filter((t) => t.TK * 2 * (t.WG_X + t.WG_Y) * 16 <= limits.maxComputeWorkgroupStorageSize)
    .filter((t) => kernel !== 'conv2d' || t.WG_Y % 2 === 0);
}

export function applyTiles(kernel: TunedKernel, tiles: Tiles): void {
  Object.assign(LIVE[kernel], tiles);
}

/** Applies an entry's winners (kernels it does not cover keep their tiles). */
export function applyEntry(entry: TuneEntry): void {
  for (const [k, t] of Object.entries(entry.kernels) as [TunedKernel, KernelTune][]) applyTiles(k, t.best);
}

const memory = new Map<string, TuneEntry>();

export interface AutotuneOptions extends MeasureOptions {
  store?: TuneStore;
  /** Measure again even when an entry is cached. */
  force?: boolean;
  kernels?: TunedKernel[];
  shapes?: 'tiny' | 'default';
  log?: (s: string) => void;
}

/**
 * The tuned tiles of this adapter, applied: from memory, else from the store, else measured (and then
 * remembered and stored). `adapter` names the cache entry (GpuContext.report.name).
 */
export async function autotune(rt: GpuRuntime, timer: GpuTimer, adapter: string, opts: AutotuneOptions = {}): Promise<TuneEntry & { source: 'memory' | 'store' | 'measured' }> {
  const kernels = opts.kernels ?? ['matmul', 'conv2d'];
  const covers = (e: TuneEntry | null | undefined): e is TuneEntry => !!e && kernels.every((k) => e.kernels[k]);
  if (!opts.force) {
    const m = memory.get(adapter);
    if (covers(m)) {
      applyEntry(m);
      return { ...m, source: 'memory' };
    }
    const s = opts.store?.load(adapter);
    if (covers(s)) {
      memory.set(adapter, s);
      applyEntry(s);
      return { ...s, source: 'store' };
    }
  }
  const entry: TuneEntry = { adapter, date: new Date().toISOString(), method: timer.method, kernels: {} };
  for (const k of kernels) entry.kernels[k] = await tuneKernel(rt, timer, k, opts);
  memory.set(adapter, entry);
  opts.store?.save(entry);
  applyEntry(entry);
  return { ...entry, source: 'measured' };
}

/** Forgets the in-memory entries (tests). */
export function clearTuneMemory(): void {
  memory.clear();
}

async function tuneKernel(rt: GpuRuntime, timer: GpuTimer, kernel: TunedKernel, opts: AutotuneOptions): Promise<KernelTune> {
  const shapes = SHAPES[opts.shapes ?? 'default'][kernel];
  const saved = { ...LIVE[kernel] };
  const cases = shapes.map((s, i) => {
    const [ins, f] =
      kernel === 'matmul'
        ? [[[s[0], s[1]], [s[1], s[2]]], (xs: Tensor[]) => matmul(xs[0], xs[1])]
        : [[[s[0], s[1], s[2], s[2]], [s[3], s[1], 3, 3], [s[3]]], (xs: Tensor[]) => conv2d(xs[0], xs[1], xs[2], { padding: 1 })];
    const xs = (ins as number[][]).map((shape, j) => Tensor.fromArray(rt, randn(numel(shape), 900 + 10 * i + j, 0.5), shape, 'f32', 'data', 'autotune in'));
    return { xs, f: f as (xs: Tensor[]) => Tensor, reference: null as Float32Array | null };
  });
  const results: CandidateResult[] = [];
  try {
    for (const c of cases) {
      applyTiles(kernel, DEFAULT_TILES[kernel]);
      c.reference = await scope(() => noGrad(() => c.f(c.xs))).toArray();
    }
    // Check each candidate's output (and compile it), then time them round-robin: a burst of load on a
    // shared machine then falls on every candidate alike.
    const live: CandidateResult[] = [];
    for (const tiles of tileCandidates(kernel, rt.limits)) {
      applyTiles(kernel, tiles);
      const r: CandidateResult = { tiles, ms: null };
      results.push(r);
      try {
        for (const c of cases) {
          const y = noGrad(() => c.f(c.xs));
          const err = maxRelError(await y.toArray(), c.reference!);
          y.dispose();
          if (!(err <= 1e-5)) throw new Error(`output differs from the default tiles' (scaled max error ${err.toExponential(1)})`);
        }
        live.push(r);
      } catch (e) {
        r.rejected = (e as Error).message.slice(0, 200);
        opts.log?.(`${kernel} ${JSON.stringify(tiles)}: rejected (${r.rejected})`);
      }
    }
    const runOf = (c: (typeof cases)[number]) => () => {
      scope(() => noGrad(() => c.f(c.xs)));
      rt.flush();
    };
    const rounds = new Map<CandidateResult, number[]>(live.map((r) => [r, []]));
    const { warmup = 1, repeats = 5 } = opts;
    for (let round = -warmup; round < repeats; round++) {
      for (const r of live) {
        applyTiles(kernel, r.tiles);
        let sum = 0;
        for (const c of cases) {
          const [gpu, wall] = await timer.once(runOf(c));
          sum += gpu ?? wall;
        }
        if (round >= 0) rounds.get(r)!.push(sum);
      }
    }
    for (const r of live) {
      // Load on a shared machine only adds time: the fastest round is the kernel's cost; the median is kept too.
      r.ms = Math.min(...rounds.get(r)!);
      r.medianMs = median(rounds.get(r)!);
      opts.log?.(`${kernel} ${JSON.stringify(r.tiles)}: ${r.ms.toFixed(1)} ms`);
    }
  } finally {
    applyTiles(kernel, saved);
    for (const c of cases) for (const x of c.xs) x.dispose();
    await rt.sync();
  }
  const timed = results.filter((r) => r.ms !== null) as (CandidateResult & { ms: number })[];
  const def = timed.find((r) => sameTiles(r.tiles, DEFAULT_TILES[kernel]));
  const best = timed.reduce((a, b) => (b.ms < a.ms ? b : a), def ?? timed[0]);
  return {
    best: best ? best.tiles : DEFAULT_TILES[kernel],
    shapes: shapes.map((s) => (kernel === 'matmul' ? `[${s[0]}x${s[1]}]@[${s[1]}x${s[2]}]` : `x[${s[0]},${s[1]},${s[2]},${s[2]}] -> ${s[3]} 3x3`)),
    candidates: results,
    gain: def && best ? def.ms / best.ms : 1,
  };
}

export const sameTiles = (a: Tiles, b: Tiles): boolean => a.WG_X === b.WG_X && a.WG_Y === b.WG_Y && a.TK === b.TK;
