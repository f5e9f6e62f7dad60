import { acquireNodeDevice } from '../../src/gpu/node-gpu.ts';
import type { LedgerOptions } from '../../src/gpu/memory/ledger.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { GpuContext } from '../../src/gpu/device.ts';

let shared: Promise<GpuContext> | null = null;

/** One Dawn device per test file (SwiftShader in CI); each call gets a fresh runtime and ledger on it. */
export async function testRuntime(opts: LedgerOptions = {}): Promise<GpuRuntime> {
  shared ??= acquireNodeDevice();
  return GpuRuntime.forDevice(await shared, opts);
}

/** The planner's device with the same limits as the test device. */
export async function metaRuntime(opts: LedgerOptions = {}): Promise<GpuRuntime> {
  shared ??= acquireNodeDevice();
  return GpuRuntime.meta((await shared).report.limits, opts);
}
