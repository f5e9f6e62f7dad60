/** The benchmarks' device in Node: Dawn on the system's adapter, SwiftShader where there is none. */
import { acquireNodeDevice } from '../../src/gpu/node-gpu.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';
import { GpuTimer } from './timer.ts';

export async function nodeBench(): Promise<{ rt: GpuRuntime; timer: GpuTimer; adapter: string }> {
  const ctx = await acquireNodeDevice();
  const rt = GpuRuntime.forDevice(ctx);
  return { rt, timer: new GpuTimer(ctx.device), adapter: ctx.report.name };
}

/** Common flags: --repeats N --warmup N --budget-ms N --json. */
export function measureFlags(args: { num(n: string, f?: number): number | undefined }) {
  return {
    warmup: args.num('warmup', 1)!,
    repeats: args.num('repeats', 5)!,
    minRepeats: args.num('min-repeats', 3)!,
    budgetMs: args.num('budget-ms', 3000)!,
  };
}
