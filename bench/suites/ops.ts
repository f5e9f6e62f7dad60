/**
 * Times each op case forward and backward on one runtime (see op-cases.ts), plus AdamW, and relates each
 * time to the ceiling: GFLOP/s, GB/s, and the roofline fraction max(flops / peak, bytes / bandwidth) / time.
 * DOM-free: Node runs it on Dawn, the peers page runs it in Chromium.
 */
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { adamwStep, createAdamWState, disposeAdamWState } from '../../src/train/adamw.ts';
import { numel, randn } from '../lib/random.ts';
import type { GpuTimer, MeasureOptions, Timing } from '../lib/timer.ts';
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

export async function runOps(rt: GpuRuntime, timer: GpuTimer, ceiling: CeilingResult | null, opts: OpsOptions = {}): Promise<OpRow[]> {
  const scale = opts.scale ?? 'default';
  const rows: OpRow[] = [];
  const cases = opCases(scale).filter((c) => !opts.only?.length || opts.only.some((o) => c.name.includes(o)));
  for (const [ci, c] of cases.entries()) {
    const xs = inputsFor(rt, c.inputs, 1000 * ci);
    try {
      const fwd = await timer.measure(forwardWork(rt, c, xs), opts);
      const row: OpRow = { name: c.name, op: c.op, shape: c.shape, flops: c.flops, bytes: c.bytes, fwd: rate(fwd, c.flops.fwd, c.bytes.fwd, ceiling) };
      if (!c.noBackward) {
        const outShape = noGrad(() => scope(() => c.forward(xs).shape.slice()));
        const work = backwardWork(rt, c, xs, () => Tensor.fromArray(rt, randn(numel(outShape), 7 + ci, 0.5), outShape, 'f32', 'data', 'bench gy'));
        const bwd = await timer.measure(work, opts);
        work.dispose();
        row.bwd = rate(bwd, c.flops.bwd ?? 0, c.bytes.bwd ?? 0, ceiling);
      }
      rows.push(row);
      opts.onRow?.(row);
    } finally {
      for (const x of xs) {
        x.grad?.dispose();
        x.dispose();
      }
      await rt.sync();
    }
  }
  if (!opts.only?.length || opts.only.some((o) => 'adamw'.includes(o))) {
    const row = await timeAdamW(rt, timer, ceiling, adamwParams(scale), opts);
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}

/** One AdamW step over n parameters in four tensors: reads p, g, m, v and writes p, m, v. */
async function timeAdamW(rt: GpuRuntime, timer: GpuTimer, ceiling: CeilingResult | null, n: number, opts: MeasureOptions): Promise<OpRow> {
  const shapes = [[n / 2], [n / 4], [n / 8], [n / 8]];
  const ps = shapes.map((s, i) => Tensor.fromArray(rt, randn(numel(s), 50 + i), s, 'f32', 'weights', 'bench param'));
  const gs = shapes.map((s, i) => Tensor.fromArray(rt, randn(numel(s), 60 + i, 1e-3), s, 'f32', 'grads', 'bench grad'));
  const state = createAdamWState(rt, ps);
  let step = 0;
  try {
    const t = await timer.measure({ run: () => { adamwStep(ps, gs, state, { lr: 1e-4, step: ++step }); rt.flush(); } }, opts);
    const flops = 16 * n;
    const bytes = 7 * 4 * n;
    return { name: 'adamw', op: 'adamw', shape: `${n} params in 4 tensors`, flops: { fwd: flops }, bytes: { fwd: bytes }, fwd: rate(t, flops, bytes, ceiling) };
  } finally {
    disposeAdamWState(state);
    for (const t of [...ps, ...gs]) t.dispose();
    await rt.sync();
  }
}
