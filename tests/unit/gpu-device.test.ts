import { describe, expect, it } from 'vitest';
import { acquireDevice } from '../../src/gpu/device.ts';
import { grid } from '../../src/gpu/kernel.ts';
import { nodeGpu } from '../../src/gpu/node-gpu.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';
import { runSelfTest } from '../../src/gpu/selftest.ts';
import { testRuntime } from '../helpers/gpu.ts';

describe('device', () => {
  it('gets a device with the adapter maximum limits and reports it', async () => {
    const rt = await testRuntime();
    const r = rt.ctx!.report;
    expect(r.name.length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(r.limits)) {
      expect(v, k).toBeGreaterThan(0);
      expect(v, k).toBe(r.adapterLimits[k as keyof typeof r.adapterLimits]);
    }
    expect(r.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(Array.isArray(r.features)).toBe(true);
  });

  it('raises a loss event with its reason, and nothing waits forever on the dead device', async () => {
    const ctx = await acquireDevice(await nodeGpu());
    const rt = GpuRuntime.forDevice(ctx);
    const buf = rt.ledger.alloc(4096, 'data', 'x');
    ctx.device.destroy();
    const lost = await ctx.lost;
    expect(lost.reason).toBe('destroyed');
    expect(ctx.lostError).toBe(lost);
    await expect(rt.read(buf)).rejects.toThrow(/lost|destroyed|abort/i);
    expect(() => rt.ledger.alloc(16, 'data', 'after loss')).toThrow(/lost/);
  });
});

describe('kernels', () => {
  it('round-trips a kernel through upload, dispatch and readback', async () => {
    const rt = await testRuntime();
    const r = await runSelfTest(rt, 1000, 3, -1);
    expect(r.maxError).toBe(0);
    const compiled = rt.kernels!.compiled;
    await runSelfTest(rt, 2000, 1, 2);
    expect(rt.kernels!.compiled).toBe(compiled); // pipeline cache hit
  });

  it('folds a workgroup count past the per-dimension limit into 2-D', async () => {
    expect(grid(10, 65535)).toEqual([10, 1, 1]);
    expect(grid(65536, 65535)).toEqual([32768, 2, 1]);
    const [x, y] = grid(1_000_003, 65535);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(1_000_003);
    expect(() => grid(65535 * 65535 + 1, 65535)).toThrow(RangeError);
    const rt = await testRuntime();
    rt.limits.maxComputeWorkgroupsPerDimension = 8; // force the fold on a small dispatch
    const small = await runSelfTest(rt, 64 * 50 + 13);
    expect(small.workgroups).toBe(51);
    expect(small.maxError).toBe(0);
  });

  it('runs a real dispatch of more than 65535 workgroups', async () => {
    const rt = await testRuntime();
    const n = 64 * 65536 + 100;
    const r = await runSelfTest(rt, n);
    expect(r.workgroups).toBeGreaterThan(rt.ctx!.report.limits.maxComputeWorkgroupsPerDimension);
    expect(r.maxError).toBe(0);
  });
});
