/**
 * Timing of GPU work, the same in Node (Dawn) and in a page: warm-up runs, then the median of repeats.
 * Where the device has 'timestamp-query', each repeat is bracketed by two empty compute passes on the
 * same queue (the first writes its end time, the second its start time), so the interval is the GPU time
 * of everything submitted between them; the wall time from the first submit to onSubmittedWorkDone is
 * recorded beside it, and is the method where timestamps are missing. Nothing here touches the DOM.
 */
import { median } from './stats.ts';

export type TimingMethod = 'gpu-timestamp' | 'wall';

export interface Timing {
  /** Median of the repeats, milliseconds, by `method`. */
  ms: number;
  method: TimingMethod;
  /** Every repeat, by `method`. */
  samples: number[];
  /** Median wall time (submit to completion), always measured. */
  wallMs: number;
}

export interface MeasureOptions {
  warmup?: number;
  repeats?: number;
  /** Stop repeating once this much time (ms, wall) went into the repeats, after at least `minRepeats`. */
  budgetMs?: number;
  minRepeats?: number;
}

/** One repetition: an untimed setup, the timed work (records and submits GPU work), an untimed teardown. */
export interface Work {
  setup?: () => void | Promise<void>;
  /** Records and submits the work to time; must leave nothing unsubmitted (flush inside). */
  run: () => void | Promise<void>;
  teardown?: () => void | Promise<void>;
}

const now = () => globalThis.performance.now();

export class GpuTimer {
  readonly hasTimestamps: boolean;
  private querySet: GPUQuerySet | null = null;
  private resolveBuf: GPUBuffer | null = null;
  private readBuf: GPUBuffer | null = null;

  constructor(
    readonly device: GPUDevice,
    opts: { timestamps?: boolean } = {},
  ) {
    this.hasTimestamps = (opts.timestamps ?? true) && device.features.has('timestamp-query');
    if (this.hasTimestamps) {
      this.querySet = device.createQuerySet({ type: 'timestamp', count: 2, label: 'bench timer' });
      this.resolveBuf = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'bench timer resolve' });
      this.readBuf = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'bench timer read' });
    }
  }

  get method(): TimingMethod {
    return this.hasTimestamps ? 'gpu-timestamp' : 'wall';
  }

  /** Times one repetition: [gpu ms or null, wall ms]. */
  async once(run: () => void | Promise<void>): Promise<[number | null, number]> {
    const q = this.device.queue;
    await q.onSubmittedWorkDone();
    if (this.querySet) q.submit([this.marker({ endOfPassWriteIndex: 0 })]);
    const t0 = now();
    await run();
    if (this.querySet) {
      const enc = this.device.createCommandEncoder();
      enc.beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 1 } }).end();
      enc.resolveQuerySet(this.querySet, 0, 2, this.resolveBuf!, 0);
      enc.copyBufferToBuffer(this.resolveBuf!, 0, this.readBuf!, 0, 16);
      q.submit([enc.finish()]);
    }
    await q.onSubmittedWorkDone();
    const wall = now() - t0;
    if (!this.readBuf) return [null, wall];
    await this.readBuf.mapAsync(GPUMapMode.READ);
    const [a, b] = new BigInt64Array(this.readBuf.getMappedRange().slice(0));
    this.readBuf.unmap();
    const gpu = Number(b - a) / 1e6;
    // A zero or negative interval means the adapter's timestamps are not usable (quantized or reset).
    return [gpu > 0 ? gpu : null, wall];
  }

  /** Warm-up, then the median of repeats (see MeasureOptions). */
  async measure(work: Work, opts: MeasureOptions = {}): Promise<Timing> {
    const { warmup = 1, repeats = 5, budgetMs = Infinity, minRepeats = 3 } = opts;
    for (let i = 0; i < warmup; i++) await this.rep(work);
    const gpu: number[] = [];
    const wall: number[] = [];
    let spent = 0;
    for (let i = 0; i < repeats; i++) {
      const [g, w] = await this.rep(work);
      if (g !== null) gpu.push(g);
      wall.push(w);
      spent += w;
      if (i + 1 >= minRepeats && spent >= budgetMs) break;
    }
    const useGpu = gpu.length === wall.length && gpu.length > 0;
    const samples = useGpu ? gpu : wall;
    return { ms: median(samples), method: useGpu ? 'gpu-timestamp' : 'wall', samples, wallMs: median(wall) };
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuf?.destroy();
    this.readBuf?.destroy();
  }

  /** One repetition of `work` (setup, timed run, teardown): [GPU ms or null, wall ms]. */
  async rep(work: Work): Promise<[number | null, number]> {
    await work.setup?.();
    try {
      return await this.once(work.run);
    } finally {
      await work.teardown?.();
    }
  }

  private marker(writes: { beginningOfPassWriteIndex?: number; endOfPassWriteIndex?: number }): GPUCommandBuffer {
    const enc = this.device.createCommandEncoder();
    enc.beginComputePass({ timestampWrites: { querySet: this.querySet!, ...writes } }).end();
    return enc.finish();
  }
}

/** Wall-clock timing of work that is not ours (a peer library): `run` must resolve when the GPU is done. */
export async function measureWall(run: () => Promise<void>, opts: MeasureOptions & { setup?: () => void | Promise<void>; teardown?: () => void | Promise<void> } = {}): Promise<Timing> {
  const { warmup = 1, repeats = 5, budgetMs = Infinity, minRepeats = 3 } = opts;
  const rep = async () => {
    await opts.setup?.();
    try {
      const t0 = now();
      await run();
      return now() - t0;
    } finally {
      await opts.teardown?.();
    }
  };
  for (let i = 0; i < warmup; i++) await rep();
  const samples: number[] = [];
  let spent = 0;
  for (let i = 0; i < repeats; i++) {
    const w = await rep();
    samples.push(w);
    spent += w;
    if (i + 1 >= minRepeats && spent >= budgetMs) break;
  }
  return { ms: median(samples), method: 'wall', samples, wallMs: median(samples) };
}
