import { DatasetService } from '../data/dataset-service.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { fmtBytes } from '../gpu/memory/bytes.ts';
import { runSelfTest } from '../gpu/selftest.ts';
import {
  DEFAULT_BUDGET_BYTES,
  failure,
  LEDGER_PUSH_MS,
  type DeviceReport,
  type EngineEvent,
  type EngineListener,
  type InitOptions,
  type LabEngine,
  type LedgerSnapshot,
  type SelfTestResult,
} from './api.ts';
import { deviceLost, toFailure } from './failures.ts';
import { throttle } from './throttle.ts';
import { TrainingService } from './training-service.ts';
import { CheckpointService } from './checkpoint-service.ts';
import { CheckpointStore } from '../store/checkpoint-store.ts';
import { SyncService } from './sync-service.ts';

export interface EngineOptions {
  /** Where the GPU comes from: navigator.gpu in the worker, Dawn in Node tests. */
  gpu: () => GPU | undefined | Promise<GPU | undefined>;
  /** False in a Worker served over plain http from a non-local host: navigator.gpu is then absent. */
  isSecureContext?: boolean;
  pushMs?: number;
  /** Where checkpoints live: IndexedDB where it exists (the worker), else memory; a directory store in Node if given. */
  checkpointStore?: () => Promise<CheckpointStore>;
}

/**
 * The LabEngine behind the worker. Every public method rejects with an EngineFailure, never with a raw
 * Error, so the UI can always show what happened and what to do.
 */
export class Engine implements LabEngine {
  private rt: GpuRuntime | null = null;
  private report: DeviceReport | null = null;
  private starting: Promise<DeviceReport> | null = null;
  private listeners = new Map<number, EngineListener>();
  private nextListener = 1;
  private readonly ledgerPush;
  readonly datasets = new DatasetService({ fail: failure, toFailure, runtime: () => this.runtime() });
  readonly training: TrainingService = new TrainingService({
    runtime: () => this.runtime(),
    emit: (e) => {
      this.emit(e);
      this.checkpoints.onTrainingEvent(e);
    },
    afterStep: (session, result) => this.checkpoints.afterStep(session, result),
    beforeStop: (session) => this.checkpoints.beforeStop(session),
    beforeStart: (run, datasetId) => this.checkpoints.beforeStart(run, datasetId),
    datasetClips: (datasetId, frames) => this.datasets.trainingClips(datasetId, frames),
    vae: () => this.datasets.vaeModel(),
  });
  private checkpointStore: Promise<CheckpointStore> | null = null;
  readonly checkpoints: CheckpointService = new CheckpointService({
    training: this.training,
    store: () => (this.checkpointStore ??= (this.opts.checkpointStore ?? CheckpointStore.openDefault)()).catch((e: unknown) => {
      this.checkpointStore = null;
      throw e;
    }),
    emit: (e) => this.emit(e),
    // A new device after a loss, under the budget the user set.
    reinit: () => this.init({ budgetBytes: this.rt?.ledger.budget }),
    // Optional metadata: an export goes on without it where there is no dataset store (Node has no IndexedDB).
    datasetConfig: (id) => this.datasets.datasetConfig(id).catch(() => null),
  });

  readonly sync = new SyncService({
    runtime: () => this.runtime(),
    busy: () => (['running', 'pausing', 'stopping'].includes(this.training.session?.state ?? 'idle') ? 'A training run is using the GPU.' : null),
    audioEncoder: () => this.datasets.audioEncoder(),
  });

  constructor(private readonly opts: EngineOptions) {
    this.ledgerPush = throttle(() => this.rt && this.emit({ type: 'ledger', snapshot: this.rt.ledger.snapshot() }), opts.pushMs ?? LEDGER_PUSH_MS);
  }

  init(opts: InitOptions = {}): Promise<DeviceReport> {
    return guard(async () => {
      if (this.rt && !this.rt.ctx?.lostError) {
        if (opts.budgetBytes !== undefined) await this.setBudget(opts.budgetBytes);
        return this.report!;
      }
      this.starting ??= this.start(opts).finally(() => (this.starting = null));
      return this.starting;
    });
  }

  device(): Promise<DeviceReport | null> {
    return Promise.resolve(this.report);
  }

  ledger(): Promise<LedgerSnapshot> {
    return guard(async () => this.runtime().ledger.snapshot());
  }

  selfTest(): Promise<SelfTestResult> {
    return guard(async () => {
      const rt = this.runtime();
      const t0 = performance.now();
      const r = await rt.ledger.inPhase('selftest', () => runSelfTest(rt));
      return { ok: r.maxError === 0, n: r.n, maxError: r.maxError, workgroups: r.workgroups, ms: performance.now() - t0 };
    });
  }

  setBudget(bytes: number): Promise<LedgerSnapshot> {
    return guard(async () => {
      checkBudget(bytes);
      const ledger = this.runtime().ledger;
      const { live, held } = ledger.snapshot();
      if (bytes < live)
        throw failure(
          'budget-below-live',
          `A budget of ${fmtBytes(bytes)} is below the ${fmtBytes(live)} that live GPU buffers hold now.`,
          `Choose at least ${fmtBytes(live)}, or stop what is running first.`,
        );
      // Pooled buffers are held too: release what no longer fits instead of refusing.
      if (held > bytes) ledger.trim(bytes - live);
      ledger.budget = bytes;
      this.ledgerPush.flush();
      return ledger.snapshot();
    });
  }

  subscribe(listener: EngineListener): Promise<number> {
    const id = this.nextListener++;
    this.listeners.set(id, listener);
    if (this.rt) listener({ type: 'ledger', snapshot: this.rt.ledger.snapshot() });
    return Promise.resolve(id);
  }

  unsubscribe(id: number): Promise<void> {
    this.listeners.delete(id);
    return Promise.resolve();
  }

  dispose(): Promise<void> {
    this.ledgerPush.cancel();
    this.rt?.destroy();
    return Promise.resolve();
  }

  /** Pushes an error that no call was waiting for (the worker's global handlers use this). */
  reportError(e: unknown): void {
    this.emit({ type: 'error', failure: toFailure(e) });
  }

  private async start(opts: InitOptions): Promise<DeviceReport> {
    const budget = opts.budgetBytes ?? DEFAULT_BUDGET_BYTES;
    checkBudget(budget);
    const gpu = await this.opts.gpu();
    if (!gpu) throw noWebGpu(this.opts.isSecureContext ?? true);
    let rt: GpuRuntime;
    try {
      rt = await GpuRuntime.acquire(gpu, { budget });
    } catch (e) {
      throw /adapter/i.test(String((e as Error)?.message)) ? noAdapter(e) : e;
    }
    const ctx = rt.ctx!;
    this.rt = rt;
    const { adapterLimits: _unused, ...report } = ctx.report;
    this.report = report;
    rt.ledger.onEvent(() => this.ledgerPush.schedule());
    ctx.lost.then((err) => {
      if (this.rt !== rt) return;
      this.ledgerPush.cancel();
      this.emit({ type: 'device-lost', failure: deviceLost(err) });
    });
    this.ledgerPush.flush();
    return report;
  }

  private runtime(): GpuRuntime {
    if (!this.rt) throw failure('not-initialized', 'The engine has no GPU yet.', 'Wait for the engine to start, or reload the page.');
    if (this.rt.ctx?.lostError) throw deviceLost(this.rt.ctx.lostError);
    return this.rt;
  }

  private emit(event: EngineEvent): void {
    for (const l of this.listeners.values()) {
      // A listener in a page that went away must not stop the others.
      Promise.resolve()
        .then(() => l(event))
        .catch(() => undefined);
    }
  }
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toFailure(e);
  }
}

function checkBudget(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw failure('bad-request', `The budget must be a positive whole number of bytes, not ${bytes}.`, 'Enter a budget such as 4 GiB.');
}

function noWebGpu(secure: boolean) {
  if (!secure)
    return failure(
      'insecure-context',
      'This page was opened over plain http from another host, so the browser hides WebGPU.',
      'Open it as http://localhost or http://127.0.0.1 on the machine that serves it, or serve it over https.',
    );
  return failure(
    'no-webgpu',
    'This browser does not offer WebGPU to workers.',
    'Use Chrome or Edge 113 or newer (on Linux, start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan), ' +
      'Safari 26, or Firefox 141 or newer on Windows. Check that WebGPU is not turned off in chrome://flags.',
  );
}

function noAdapter(e: unknown) {
  return failure(
    'no-adapter',
    'The browser supports WebGPU but offered no GPU adapter.',
    'Turn on hardware acceleration in the browser settings and update the GPU driver. On Linux, start Chrome with ' +
      '--enable-unsafe-webgpu --enable-features=Vulkan; without a GPU, add --use-webgpu-adapter=swiftshader (slow, but it works).',
    String((e as Error)?.message ?? e),
  );
}
