import { afterAll, describe, expect, it, vi } from 'vitest';
import { nodeGpu } from '../../src/gpu/node-gpu.ts';
import type { EngineEvent, EngineFailure, LedgerSnapshot } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';
import { throttle } from '../../src/worker/throttle.ts';
import { rejection } from '../helpers/rejection.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
// The runtime's uniform arena (64 KiB) is live from the start; the self-test adds x, y and a readback
// staging buffer of 16 KiB each (4096 floats), freed into the pool afterwards.
const ARENA = 64 * KiB;
const SELFTEST = 3 * 16 * KiB;

describe('Engine (the worker object) on Dawn', () => {
  const engine = new Engine({ gpu: nodeGpu, pushMs: 20 });
  const events: EngineEvent[] = [];
  const lastLedger = (): LedgerSnapshot | undefined =>
    events.filter((e) => e.type === 'ledger').map((e) => (e as { snapshot: LedgerSnapshot }).snapshot).at(-1);
  afterAll(() => engine.dispose());

  it('rejects calls before init with a readable failure', async () => {
    const f = await rejection(engine.ledger());
    expect(f).toMatchObject({ kind: 'engine-failure', code: 'not-initialized' });
    expect(f.action).toMatch(/reload/i);
  });

  it('says what to do when there is no WebGPU', async () => {
    const none = new Engine({ gpu: () => undefined });
    expect(await rejection(none.init())).toMatchObject({ code: 'no-webgpu', action: expect.stringMatching(/Chrome/) });
    const insecure = new Engine({ gpu: () => undefined, isSecureContext: false });
    expect(await rejection(insecure.init())).toMatchObject({ code: 'insecure-context', action: expect.stringMatching(/localhost/) });
  });

  it('init reports the adapter and applies the budget', async () => {
    await engine.subscribe((e) => events.push(e));
    const report = await engine.init({ budgetBytes: 256 * MiB });
    expect(report.description.length + report.name.length).toBeGreaterThan(0);
    expect(report.limits.maxBufferSize).toBeGreaterThan(0);
    expect(Array.isArray(report.features)).toBe(true);
    expect(report).not.toHaveProperty('adapterLimits');
    expect(await engine.device()).toEqual(report);
    const snap = await engine.ledger();
    expect(snap).toMatchObject({ budget: 256 * MiB, live: ARENA, held: ARENA });
    expect(lastLedger()).toMatchObject({ budget: 256 * MiB, live: ARENA });
    // A second init keeps the device and only changes the budget.
    expect(await engine.init({ budgetBytes: 128 * MiB })).toEqual(report);
    expect((await engine.ledger()).budget).toBe(128 * MiB);
  });

  it('runs the self-test in its own phase and pushes the ledger', async () => {
    const r = await engine.selfTest();
    expect(r).toMatchObject({ ok: true, maxError: 0, n: 4096 });
    const snap = await engine.ledger();
    expect(snap).toMatchObject({ live: ARENA, pooled: SELFTEST, held: ARENA + SELFTEST, peak: ARENA + SELFTEST, phase: 'idle' });
    expect(snap.phases.selftest.peak).toBe(ARENA + SELFTEST);
    expect(snap.liveByCategory.workspace).toBe(ARENA);
    expect(snap.peakByCategory.staging).toBe(16 * KiB);
    await vi.waitFor(() => expect(lastLedger()).toEqual(snap));
  });

  it('setBudget trims the pool, refuses less than the live bytes, and rejects nonsense', async () => {
    const f = await rejection(engine.setBudget(ARENA - 1));
    expect(f.code).toBe('budget-below-live');
    expect(f.message).toContain('64.0 KiB');
    expect((await rejection(engine.setBudget(Number.NaN))).code).toBe('bad-request');
    expect((await rejection(engine.setBudget(-1))).code).toBe('bad-request');
    expect((await engine.ledger()).budget).toBe(128 * MiB);

    const snap = await engine.setBudget(ARENA + 16 * KiB);
    expect(snap).toMatchObject({ budget: ARENA + 16 * KiB, live: ARENA, pooled: 16 * KiB });
    expect(lastLedger()).toEqual(snap);
    // The budget is enforced for the next allocation: the self-test needs more than is left.
    expect((await rejection(engine.selfTest())).code).toBe('budget-exceeded');
    await engine.setBudget(256 * MiB);
    expect((await engine.selfTest()).ok).toBe(true);
  });

  it('a destroyed device reaches subscribers as device-lost, and init starts again', async () => {
    await engine.dispose();
    await vi.waitFor(() => expect(events.some((e) => e.type === 'device-lost')).toBe(true));
    const lost = events.find((e) => e.type === 'device-lost') as { failure: EngineFailure };
    expect(lost.failure).toMatchObject({ code: 'device-lost', message: expect.stringContaining('destroyed') });
    expect((await rejection(engine.ledger())).code).toBe('device-lost');
    await engine.init({ budgetBytes: 64 * MiB });
    expect(await engine.ledger()).toMatchObject({ live: ARENA, budget: 64 * MiB });
  });
});

describe('throttle', () => {
  it('runs the first call at once and folds the rest of a burst into one trailing call', () => {
    vi.useFakeTimers();
    try {
      const fn = vi.fn();
      const t = throttle(fn, 100);
      for (let i = 0; i < 10; i++) t.schedule();
      expect(fn).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(100);
      expect(fn).toHaveBeenCalledTimes(2);
      vi.advanceTimersByTime(500);
      expect(fn).toHaveBeenCalledTimes(2);
      t.schedule();
      expect(fn).toHaveBeenCalledTimes(3);
      t.cancel();
      vi.advanceTimersByTime(500);
      expect(fn).toHaveBeenCalledTimes(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
