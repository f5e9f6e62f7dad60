/**
 * Times each op case forward and backward on one runtime (see op-cases.ts), plus AdamW, in interleaved
 * rounds, and relates each time to the ceiling: GFLOP/s, GB/s, and the roofline fraction max(flops / peak, bytes / bandwidth) / time.
 * DOM-free: Node runs it on Dawn, the peers page runs it in Chromium.
 */
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { adamwStep, createAdamWState, disposeAdamWState } from '../../src/train/adamw.ts';
import { numel, randn } from '../lib/random.ts';
import { median } from '../lib/stats.ts';
import type { GpuTimer, MeasureOptions, Timing, Work } from '../lib/timer.ts';
import type { CeilingResult } from './ceiling.ts';
import { adamwParams, opCases, type InputSpec, type OpCase, type Scale } from './op-cases.ts';

export interface OpTiming {
  ms: number;
  method: string;
  samples: number[];
  gflops: number;
  gbps: number;
  /** max(flops / ceiling FLOP/s, bytes / ceiling bandwidth) / time: 1 = at the adapter's roofline. */
  ofCeiling: number | null;
}

export interface OpRow {
  name: string;
  op: string;
  shape: string;
  flops: { fwd: number; bwd?: number };
  bytes: { fwd: number; bwd?: number };
  fwd: OpTiming;
  bwd?: OpTiming;
}

export function inputsFor(rt: GpuRuntime, specs: InputSpec[], seed: number): Tensor[] {
  return specs.map((s, i) => {
    const data = randn(numel(s.shape), seed + i, 0.5);
    if (s.positive) for (let j = 0; j < data.length; j++) data[j] = 1 + 0.1 * data[j];
    const t = Tensor.fromArray(rt, data, s.shape, 'f32', 'data', `bench in ${i}`);
    t.requiresGrad = !!s.grad;
    return t;
  });
}

export function rate(t: Timing, flops: number, bytes: number, ceiling: CeilingResult | null): OpTiming {
  const gflops = flops / t.ms / 1e6;
  const gbps = bytes / t.ms / 1e6;
  const ofCeiling = ceiling ? Math.max(gflops / ceiling.gflops, gbps / ceiling.gbps) : null;
  return { ms: t.ms, method: t.method, samples: t.samples, gflops, gbps, ofCeiling };
}

/** Forward only, nothing recorded. */
export function forwardWork(rt: GpuRuntime, c: OpCase, xs: Tensor[]) {
  return {
    run: () => {
      scope(() => noGrad(() => c.forward(xs)));
      rt.flush();
    },
  };
}

/** Backward only: the forward is recorded (untimed) in setup; gradients accumulate into the leaves as in training. */
export function backwardWork(rt: GpuRuntime, c: OpCase, xs: Tensor[], gy: () => Tensor) {
  let y: Tensor | null = null;
  let seed: Tensor | null = null;
  return {
    setup: async () => {
      y = scope(() => c.forward(xs));
      seed ??= gy();
      await rt.sync();
    },
    run: () => {
      scope(() => backward(y!, seed!.alias()));
      rt.flush();
    },
    teardown: () => {
      y?.dispose();
      y = null;
    },
    dispose: () => seed?.dispose(),
  };
}

export interface OpsOptions extends MeasureOptions {
  scale?: Scale;
  /** Only cases whose name contains one of these. */
  only?: string[];
  onRow?: (row: OpRow) => void;
}

interface Entry {
  c: OpCase | null;
  row: OpRow;
  fwd: Work;
  bwd: (Work & { dispose(): void }) | null;
  samples: { fwd: [number | null, number][]; bwd: [number | null, number][] };
  dispose: () => void;
}

/**
 * Every case's inputs are made up front, then the cases run in rounds (each round: every op forward,
 * then backward), so that a burst of load on a shared machine spreads over all rows instead of landing
 * on one. One warm-up round (or `warmup`), then rounds until `repeats`, or until `minRepeats` rounds and
 * `budgetMs` per row have passed. Each row's time is the median over the rounds.
 */
export async function runOps(rt: GpuRuntime, timer: GpuTimer, ceiling: CeilingResult | null, opts: OpsOptions = {}): Promise<OpRow[]> {
  const scale = opts.scale ?? 'default';
  const { warmup = 1, repeats = 5, minRepeats = 3, budgetMs = Infinity } = opts;
  const wanted = (name: string) => !opts.only?.length || opts.only.some((o) => name.includes(o));
  const entries: Entry[] = [];
  try {
    for (const [ci, c] of opCases(scale).entries()) {
      if (!wanted(c.name)) continue;
      const xs = inputsFor(rt, c.inputs, 1000 * ci);
      const outShape = noGrad(() => scope(() => c.forward(xs).shape.slice()));
      const bwd = c.noBackward ? null : backwardWork(rt, c, xs, () => Tensor.fromArray(rt, randn(numel(outShape), 7 + ci, 0.5), outShape, 'f32', 'data', 'bench gy'));
      entries.push({
        c,
        row: { name: c.name, op: c.op, shape: c.shape, flops: c.flops, bytes: c.bytes } as OpRow,
        fwd: forwardWork(rt, c, xs),
        bwd,
        samples: { fwd: [], bwd: [] },
        dispose: () => {
          bwd?.dispose();
          for (const x of xs) {
            x.grad?.dispose();
            x.dispose();
          }
        },
      });
    }
    if (wanted('adamw')) entries.push(adamWEntry(rt, adamwParams(scale)));
    await rt.sync();
    let spent = 0;
    for (let round = -warmup; round < repeats; round++) {
      for (const e of entries) {
        const f = await timer.rep(e.fwd);
        const b = e.bwd ? await timer.rep(e.bwd) : null;
        if (round < 0) continue;
        e.samples.fwd.push(f);
        spent += f[1];
        if (b) {
          e.samples.bwd.push(b);
          spent += b[1];
        }
      }
      if (round + 1 >= minRepeats && spent >= budgetMs * entries.length) break;
    }
    const rows = entries.map((e) => {
      const row = e.row;
      row.fwd = rate(summarize(e.samples.fwd), row.flops.fwd, row.bytes.fwd, ceiling);
      if (e.bwd) row.bwd = rate(summarize(e.samples.bwd), row.flops.bwd ?? 0, row.bytes.bwd ?? 0, ceiling);
      opts.onRow?.(row);
      return row;
    });
    return rows;
  } finally {
    for (const e of entries) e.dispose();
    await rt.sync();
  }
}

/** Samples of one row: GPU times where every repeat had one, else wall times. */
function summarize(samples: [number | null, number][]): Timing {
  const gpu = samples.map((s) => s[0]).filter((g): g is number => g !== null);
  const wall = samples.map((s) => s[1]);
  const useGpu = gpu.length === wall.length && gpu.length > 0;
  const chosen = useGpu ? gpu : wall;
  return { ms: median(chosen), method: useGpu ? 'gpu-timestamp' : 'wall', samples: chosen, wallMs: median(wall) };
}

/** One AdamW step over n parameters in four tensors: reads p, g, m, v and writes p, m, v. */
function adamWEntry(rt: GpuRuntime, n: number): Entry {
  const shapes = [[n / 2], [n / 4], [n / 8], [n / 8]];
  const ps = shapes.map((s, i) => Tensor.fromArray(rt, randn(numel(s), 50 + i), s, 'f32', 'weights', 'bench param'));
  const gs = shapes.map((s, i) => Tensor.fromArray(rt, randn(numel(s), 60 + i, 1e-3), s, 'f32', 'grads', 'bench grad'));
  const state = createAdamWState(rt, ps);
  let step = 0;
  const flops = 16 * n;
  const bytes = 7 * 4 * n;
  return {
    c: null,
    row: { name: 'adamw', op: 'adamw', shape: `${n} params in 4 tensors`, flops: { fwd: flops }, bytes: { fwd: bytes } } as OpRow,
    fwd: {
      run: () => {
        adamwStep(ps, gs, state, { lr: 1e-4, step: ++step });
        rt.flush();
      },
    },
    bwd: null,
    samples: { fwd: [], bwd: [] },
    dispose: () => {
      disposeAdamWState(state);
      for (const t of [...ps, ...gs]) t.dispose();
    },
  };
}
