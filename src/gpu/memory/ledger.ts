import { BudgetExceededError, DeviceLostError, GpuAllocationError, type MemoryBreakdown } from '../errors.ts';
import type { BufferBackend, BufferUse, CreateFailure } from './backend.ts';
import { CATEGORIES, type Category, zeroByCategory } from './categories.ts';
import { bufferBytes } from './size-classes.ts';

/**
 * The memory ledger: every GPU buffer is created, pooled and destroyed here, so live, pooled and peak
 * bytes are known exactly, per category and per phase, and a budget is enforced before the GPU is asked.
 *
 * Pool policy:
 * - freed buffers keep their GPU memory and wait in a free list per (use, size class); see size-classes.ts
 *   (weights, gradients and optimizer state are only aligned to 256 bytes: they live for the whole run);
 * - pooled bytes count as held (the GPU still holds them) but belong to no category;
 * - the pool never holds more than `poolCap` bytes: freeing past the cap destroys the oldest pooled buffers;
 * - under budget pressure the pool is trimmed, oldest first, before a request is refused;
 * - trim() empties it on demand (the trainer does so between phases whose buffer sizes differ).
 */
export interface LedgerBuffer {
  readonly id: number;
  /** Bytes the GPU really holds (the size class), which is what the ledger counts. */
  readonly bytes: number;
  readonly use: BufferUse;
  /** The GPU buffer; null on the meta device. */
  readonly gpu: GPUBuffer;
  requested: number;
  category: Category;
  label: string;
  live: boolean;
}

export interface PhaseStats {
  peak: number;
  peakByCategory: Record<Category, number>;
}

export interface LedgerSnapshot {
  budget: number;
  live: number;
  pooled: number;
  held: number;
  peak: number;
  /** Peak of live bytes alone: the least budget that could hold the same work with the pool trimmed to nothing. */
  peakLive: number;
  liveByCategory: Record<Category, number>;
  peakByCategory: Record<Category, number>;
  phase: string;
  phases: Record<string, PhaseStats>;
  buffers: number;
  pooledBuffers: number;
}

export type LedgerEvent =
  | { type: 'alloc'; id: number; bytes: number; category: Category; label: string; phase: string; fromPool: boolean; held: number }
  | { type: 'free'; id: number; bytes: number; category: Category; label: string; phase: string; pooled: boolean; held: number }
  | { type: 'trim'; bytes: number; held: number }
  | { type: 'failed'; id: number; bytes: number; category: Category; label: string; held: number };

export interface LedgerOptions {
  budget?: number;
  poolCap?: number;
  pooling?: boolean;
}

export class MemoryLedger {
  budget: number;
  poolCap: number;
  pooling: boolean;

  private nextId = 1;
  private liveBytes = 0;
  private pooledBytes = 0;
  private peakBytes = 0;
  private peakLiveBytes = 0;
  private liveByCat = zeroByCategory();
  private peakByCat = zeroByCategory();
  private currentPhase = 'idle';
  private phaseStats = new Map<string, PhaseStats>();
  private liveBuffers = new Set<LedgerBuffer>();
  /** Oldest first; Map iteration order is insertion order. */
  private pool = new Map<LedgerBuffer, string>();
  private pending: Promise<void>[] = [];
  private failures: GpuAllocationError[] = [];
  private listeners = new Set<(e: LedgerEvent) => void>();
  private lost: DeviceLostError | null = null;

  constructor(
    readonly backend: BufferBackend,
    opts: LedgerOptions = {},
  ) {
    this.budget = opts.budget ?? Number.POSITIVE_INFINITY;
    this.poolCap = opts.poolCap ?? Number.POSITIVE_INFINITY;
    this.pooling = opts.pooling ?? true;
    this.setPhase('idle');
  }

  get held(): number {
    return this.liveBytes + this.pooledBytes;
  }

  get isMeta(): boolean {
    return this.backend.isMeta;
  }

  /** A new buffer of at least `bytes`, counted under `category`. Throws BudgetExceededError before the GPU is asked. */
  alloc(bytes: number, category: Category, label: string, use: BufferUse = 'storage'): LedgerBuffer {
    if (this.lost) throw this.lost;
    if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw new RangeError(`alloc: bad byte count ${bytes} for ${label}`);
    const size = bufferBytes(bytes, category);
    const key = poolKey(use, size);
    for (const [buf, k] of this.pool) {
      if (k !== key) continue;
      this.pool.delete(buf);
      this.pooledBytes -= size;
      Object.assign(buf, { requested: bytes, category, label, live: true });
      this.takeLive(buf, true);
      return buf;
    }
    this.makeRoom(size, bytes, category, label);
    const created = this.backend.create(size, use, label);
    const buf: LedgerBuffer = { id: this.nextId++, bytes: size, use, gpu: created.buffer as GPUBuffer, requested: bytes, category, label, live: true };
    const failure = created.failure;
    if (failure && !(failure instanceof Promise)) throw this.toError(failure, buf);
    const peakBefore = this.peakState();
    this.takeLive(buf, false);
    if (failure instanceof Promise) {
      this.pending.push(failure.then((f) => (f ? this.undoFailed(buf, f, peakBefore) : undefined)));
    }
    return buf;
  }

  /** Returns a buffer to the pool (or destroys it when pooling is off or the pool is at its cap). */
  free(buf: LedgerBuffer): void {
    if (!buf.live) throw new Error(`double free of GPU buffer "${buf.label}" (#${buf.id})`);
    buf.live = false;
    this.liveBuffers.delete(buf);
    this.liveBytes -= buf.bytes;
    this.liveByCat[buf.category] -= buf.bytes;
    const pooled = this.pooling && !this.lost && buf.bytes <= this.poolCap;
    if (pooled) {
      this.pool.set(buf, poolKey(buf.use, buf.bytes));
      this.pooledBytes += buf.bytes;
    } else {
      this.backend.destroy(buf.gpu);
    }
    this.emit({ type: 'free', id: buf.id, bytes: buf.bytes, category: buf.category, label: buf.label, phase: this.currentPhase, pooled, held: this.held });
    if (this.pooledBytes > this.poolCap) this.trim(this.poolCap);
  }

  /** Destroys pooled buffers, oldest first, until at most `keepBytes` stay pooled. Returns bytes released. */
  trim(keepBytes = 0): number {
    let released = 0;
    for (const buf of this.pool.keys()) {
      if (this.pooledBytes <= keepBytes) break;
      this.pool.delete(buf);
      this.pooledBytes -= buf.bytes;
      released += buf.bytes;
      this.backend.destroy(buf.gpu);
    }
    if (released > 0) this.emit({ type: 'trim', bytes: released, held: this.held });
    return released;
  }

  /** Names the phase that following allocations belong to ("train-step", "validation", "checkpoint", ...). */
  setPhase(name: string): void {
    this.currentPhase = name;
    if (!this.phaseStats.has(name)) this.phaseStats.set(name, { peak: 0, peakByCategory: zeroByCategory() });
    this.notePeaks();
  }

  get phase(): string {
    return this.currentPhase;
  }

  /** Runs fn inside a named phase and restores the previous one, also on error. */
  async inPhase<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const prev = this.currentPhase;
    this.setPhase(name);
    try {
      return await fn();
    } finally {
      this.setPhase(prev);
    }
  }

  /** Resets peaks (overall, per category, per phase) to what is held now. */
  resetPeaks(): void {
    this.peakBytes = this.held;
    this.peakLiveBytes = this.liveBytes;
    this.peakByCat = { ...this.liveByCat };
    this.phaseStats.clear();
    this.setPhase(this.currentPhase);
  }

  /**
   * Waits for the GPU's verdict on every creation so far. A refused creation has already been taken out of
   * the accounts; this throws its GpuAllocationError (the first, if several).
   */
  async settle(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      await Promise.all(batch);
    }
    const failure = this.failures.shift();
    this.failures = [];
    if (failure) throw failure;
  }

  /** Called when the device is lost: nothing more is allocated, pooled buffers are forgotten. */
  markLost(err: DeviceLostError): void {
    this.lost = err;
    this.pool.clear();
    this.pooledBytes = 0;
  }

  onEvent(listener: (e: LedgerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Live buffers, largest first: what to show a user who asks "what is holding my memory?". */
  liveList(): readonly LedgerBuffer[] {
    return [...this.liveBuffers].sort((a, b) => b.bytes - a.bytes);
  }

  breakdown(): MemoryBreakdown {
    return { budget: this.budget, held: this.held, pooled: this.pooledBytes, byCategory: { ...this.liveByCat } };
  }

  snapshot(): LedgerSnapshot {
    const phases: Record<string, PhaseStats> = {};
    for (const [name, s] of this.phaseStats) phases[name] = { peak: s.peak, peakByCategory: { ...s.peakByCategory } };
    return {
      budget: this.budget,
      live: this.liveBytes,
      pooled: this.pooledBytes,
      held: this.held,
      peak: this.peakBytes,
      peakLive: this.peakLiveBytes,
      liveByCategory: { ...this.liveByCat },
      peakByCategory: { ...this.peakByCat },
      phase: this.currentPhase,
      phases,
      buffers: this.liveBuffers.size,
      pooledBuffers: this.pool.size,
    };
  }

  private makeRoom(size: number, requested: number, category: Category, label: string): void {
    const over = this.held + size - this.budget;
    if (over <= 0) return;
    this.trim(Math.max(0, this.pooledBytes - over));
    if (this.held + size > this.budget) throw new BudgetExceededError(requested, category, label, this.breakdown());
  }

  private takeLive(buf: LedgerBuffer, fromPool: boolean): void {
    this.liveBuffers.add(buf);
    this.liveBytes += buf.bytes;
    this.liveByCat[buf.category] += buf.bytes;
    this.notePeaks();
    this.emit({ type: 'alloc', id: buf.id, bytes: buf.bytes, category: buf.category, label: buf.label, phase: this.currentPhase, fromPool, held: this.held });
  }

  private notePeaks(): void {
    const held = this.held;
    if (held > this.peakBytes) this.peakBytes = held;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    const phase = this.phaseStats.get(this.currentPhase)!;
    if (held > phase.peak) phase.peak = held;
    for (const c of CATEGORIES) {
      const v = this.liveByCat[c];
      if (v > this.peakByCat[c]) this.peakByCat[c] = v;
      if (v > phase.peakByCategory[c]) phase.peakByCategory[c] = v;
    }
  }

  private peakState() {
    const phase = this.phaseStats.get(this.currentPhase)!;
    return { phaseName: this.currentPhase, peak: this.peakBytes, peakLive: this.peakLiveBytes, cat: { ...this.peakByCat }, phasePeak: phase.peak, phaseCat: { ...phase.peakByCategory } };
  }

  /** A buffer the GPU refused never existed: take it out of live bytes and out of any peak it set. */
  private undoFailed(buf: LedgerBuffer, f: CreateFailure, before: ReturnType<MemoryLedger['peakState']>): void {
    if (buf.live) {
      buf.live = false;
      this.liveBuffers.delete(buf);
      this.liveBytes -= buf.bytes;
      this.liveByCat[buf.category] -= buf.bytes;
    } else if (this.pool.delete(buf)) {
      this.pooledBytes -= buf.bytes;
    }
    // Peaks only rise: when nothing was allocated after the refused buffer, the peaks before it are exact again.
    if (this.nextId === buf.id + 1) this.restorePeaks(before);
    this.backend.destroy(buf.gpu);
    this.failures.push(this.toError(f, buf));
    this.emit({ type: 'failed', id: buf.id, bytes: buf.bytes, category: buf.category, label: buf.label, held: this.held });
  }

  private restorePeaks(before: ReturnType<MemoryLedger['peakState']>): void {
    this.peakBytes = before.peak;
    this.peakLiveBytes = before.peakLive;
    this.peakByCat = before.cat;
    const phase = this.phaseStats.get(before.phaseName);
    if (phase) {
      phase.peak = before.phasePeak;
      phase.peakByCategory = before.phaseCat;
    }
  }

  private toError(f: CreateFailure, buf: LedgerBuffer): GpuAllocationError {
    return new GpuAllocationError(f.kind, buf.requested, buf.category, buf.label, f.message);
  }

  private emit(e: LedgerEvent): void {
    for (const l of this.listeners) l(e);
  }
}

const poolKey = (use: BufferUse, size: number) => `${use}:${size}`;
