import { describe, expect, it } from 'vitest';
import { BudgetExceededError, GpuAllocationError } from '../../src/gpu/errors.ts';
import { MetaBackend } from '../../src/gpu/memory/backend.ts';
import { MemoryLedger, type LedgerEvent } from '../../src/gpu/memory/ledger.ts';
import { sizeClass } from '../../src/gpu/memory/size-classes.ts';
import { testRuntime } from '../helpers/gpu.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const metaLedger = (opts = {}) => new MemoryLedger(new MetaBackend(256 * MiB), opts);

describe('size classes', () => {
  it('round up to 8 classes per octave, at least 256 bytes', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(256)).toBe(256);
    expect(sizeClass(257)).toBe(512);
    expect(sizeClass(4096)).toBe(4096);
    expect(sizeClass(4097)).toBe(4608);
    expect(sizeClass(MiB + 1)).toBe(MiB + 128 * KiB);
    for (let b = 1; b < 10 * MiB; b = Math.ceil(b * 1.37) + 3) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      expect(c % 4).toBe(0);
      if (b > 4096) expect(c / b).toBeLessThanOrEqual(1.125);
    }
  });
});

describe('memory ledger accounting', () => {
  it('tracks live, peak and per-category bytes through alloc and free', () => {
    const l = metaLedger({ pooling: false });
    const w = l.alloc(1000, 'weights', 'w');
    const a = l.alloc(4096, 'activations', 'a');
    expect(w.bytes).toBe(1024);
    let s = l.snapshot();
    expect(s.live).toBe(1024 + 4096);
    expect(s.liveByCategory.weights).toBe(1024);
    expect(s.liveByCategory.activations).toBe(4096);
    l.free(a);
    const g = l.alloc(2048, 'grads', 'g');
    s = l.snapshot();
    expect(s.live).toBe(1024 + 2048);
    expect(s.peak).toBe(1024 + 4096);
    expect(s.peakByCategory).toMatchObject({ weights: 1024, activations: 4096, grads: 2048, optimizer: 0 });
    expect(s.liveByCategory.activations).toBe(0);
    expect(s.buffers).toBe(2);
    l.free(w);
    l.free(g);
    expect(l.snapshot().live).toBe(0);
    expect(() => l.free(g)).toThrow(/double free/);
  });

  it('only aligns long-lived buffers (weights, grads, optimizer); transient ones get a size class', () => {
    const l = metaLedger();
    expect(l.alloc(4200, 'optimizer', 'm').bytes).toBe(4352);
    expect(l.alloc(4200, 'grads', 'g').bytes).toBe(4352);
    expect(l.alloc(4200, 'activations', 'a').bytes).toBe(4608);
  });

  it('keeps a peak per phase', async () => {
    const l = metaLedger({ pooling: false });
    const w = l.alloc(MiB, 'weights', 'w');
    await l.inPhase('train-step', () => {
      const a = l.alloc(3 * MiB, 'activations', 'a');
      l.free(a);
    });
    await l.inPhase('validation', () => {
      const v = l.alloc(MiB, 'validation', 'v');
      l.free(v);
    });
    const s = l.snapshot();
    expect(s.phase).toBe('idle');
    expect(s.phases['train-step'].peak).toBe(4 * MiB);
    expect(s.phases['train-step'].peakByCategory.activations).toBe(3 * MiB);
    expect(s.phases.validation.peak).toBe(2 * MiB);
    expect(s.phases.validation.peakByCategory.activations).toBe(0);
    l.resetPeaks();
    expect(l.snapshot().peak).toBe(MiB);
    l.free(w);
  });

  it('refuses a request past the budget before asking the GPU, with the breakdown', () => {
    const created: number[] = [];
    const backend = new MetaBackend();
    const spy = { isMeta: true, create: (b: number, u: never, lbl: string) => (created.push(b), backend.create(b)), destroy: () => {} };
    const l = new MemoryLedger(spy, { budget: 10 * MiB, pooling: false });
    l.alloc(4 * MiB, 'weights', 'w');
    l.alloc(4 * MiB, 'optimizer', 'adam m');
    let err: unknown;
    try {
      l.alloc(3 * MiB, 'activations', 'conv out');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BudgetExceededError);
    const b = err as BudgetExceededError;
    expect(b.requested).toBe(3 * MiB);
    expect(b.category).toBe('activations');
    expect(b.breakdown.byCategory).toMatchObject({ weights: 4 * MiB, optimizer: 4 * MiB });
    expect(b.breakdown.held).toBe(8 * MiB);
    expect(b.message).toMatch(/activations "conv out" asked for 3\.0 MiB while 8\.0 MiB of 10\.0 MiB is held/);
    expect(created).toEqual([4 * MiB, 4 * MiB]);
    expect(l.snapshot().live).toBe(8 * MiB);
  });

  it('reuses pooled buffers of the same size class and counts them as held', () => {
    const events: LedgerEvent[] = [];
    const l = metaLedger();
    l.onEvent((e) => events.push(e));
    const a = l.alloc(5000, 'activations', 'a');
    l.free(a);
    let s = l.snapshot();
    expect(s.live).toBe(0);
    expect(s.pooled).toBe(a.bytes);
    expect(s.held).toBe(a.bytes);
    const b = l.alloc(4700, 'workspace', 'b'); // same class (4608 < 4700 <= 5120)
    expect(b).toBe(a);
    expect(b.category).toBe('workspace');
    s = l.snapshot();
    expect(s.pooled).toBe(0);
    expect(s.liveByCategory.workspace).toBe(5120);
    const c = l.alloc(9000, 'workspace', 'c'); // another class: a new buffer
    expect(c).not.toBe(a);
    expect(events.filter((e) => e.type === 'alloc').map((e) => (e as { fromPool: boolean }).fromPool)).toEqual([false, true, false]);
    // storage and readback buffers never mix
    l.free(c);
    expect(l.alloc(9000, 'staging', 'r', 'readback')).not.toBe(c);
  });

  it('trims the pool under budget pressure before refusing, oldest first', () => {
    const l = metaLedger({ budget: 10 * MiB });
    const bufs = [1, 2, 3].map((i) => l.alloc(2 * MiB, 'activations', `a${i}`));
    bufs.forEach((b) => l.free(b));
    expect(l.snapshot().pooled).toBe(6 * MiB);
    const big = l.alloc(7 * MiB, 'activations', 'big');
    const s = l.snapshot();
    expect(s.pooled).toBe(2 * MiB); // two of three trimmed: 7 + 2 <= 10
    expect(s.held).toBe(9 * MiB);
    expect(s.pooledBuffers).toBe(1);
    // the survivor is the newest one
    expect(l.alloc(2 * MiB, 'activations', 'again')).toBe(bufs[2]);
    expect(() => l.alloc(2 * MiB, 'activations', 'too much')).toThrow(BudgetExceededError);
    l.free(big);
  });

  it('caps the pool and trims on demand', () => {
    const l = metaLedger({ poolCap: 2.5 * MiB });
    const bufs = [1, 2, 3].map((i) => l.alloc(MiB, 'activations', `a${i}`));
    bufs.forEach((b) => l.free(b));
    expect(l.snapshot().pooled).toBe(2 * MiB);
    expect(l.snapshot().pooledBuffers).toBe(2);
    expect(l.alloc(MiB, 'activations', 'reuse')).toBe(bufs[1]); // the oldest went first
    l.free(bufs[1]);
    expect(l.trim()).toBeGreaterThan(0);
    expect(l.snapshot()).toMatchObject({ pooled: 0, held: 0, pooledBuffers: 0 });
  });

  it('meta ledger refuses what the adapter would refuse, synchronously', () => {
    const l = metaLedger();
    expect(() => l.alloc(512 * MiB, 'weights', 'huge')).toThrow(GpuAllocationError);
    expect(l.snapshot()).toMatchObject({ live: 0, held: 0, peak: 0 });
  });
});

describe('memory ledger on the GPU', () => {
  it('turns a buffer the GPU refuses into a typed error and stays exact', async () => {
    const rt = await testRuntime();
    const l = rt.ledger;
    const before = l.snapshot();
    const ok = l.alloc(MiB, 'weights', 'fine');
    const tooBig = rt.limits.maxBufferSize + 4 * MiB;
    const bad = l.alloc(tooBig, 'activations', 'past maxBufferSize');
    expect(bad.bytes).toBeGreaterThan(rt.limits.maxBufferSize);
    let err: unknown;
    try {
      await l.settle();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GpuAllocationError);
    expect((err as GpuAllocationError).label).toBe('past maxBufferSize');
    expect((err as Error).message).toMatch(/could not allocate/);
    const after = l.snapshot();
    expect(after.live).toBe(before.live + MiB);
    expect(after.liveByCategory.activations).toBe(0);
    expect(after.peak).toBe(before.live + MiB);
    expect(after.peakByCategory.activations).toBe(0);
    await l.settle(); // the failure was reported once
    // the device still works
    l.free(ok);
    const again = l.alloc(MiB, 'weights', 'after');
    expect(again).toBe(ok);
    await rt.sync();
  });

  it('pooled buffers hold their data until reused (same GPU buffer)', async () => {
    const rt = await testRuntime();
    const a = rt.ledger.alloc(1024, 'data', 'a');
    rt.upload(a, new Float32Array(256).fill(7));
    rt.ledger.free(a);
    const b = rt.ledger.alloc(1000, 'data', 'b');
    expect(b.gpu).toBe(a.gpu);
    expect(new Float32Array(await rt.read(b, 1000))[0]).toBe(7);
    rt.ledger.free(b);
  });
});
