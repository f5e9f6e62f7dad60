import { acquireNodeDevice } from '../../gpu/node-gpu.ts';
import { GpuRuntime } from '../../gpu/runtime.ts';
import { runSelfTest } from '../../gpu/selftest.ts';
import type { Args } from '../args.ts';

export const help = 'the adapter, its limits and features, and a kernel self-test [--json]';

export async function run(args: Args): Promise<void> {
  const ctx = await acquireNodeDevice();
  const rt = GpuRuntime.forDevice(ctx);
  const selftest = await runSelfTest(rt);
  const out = { adapter: ctx.report, selftest, icd: process.env.VK_ICD_FILENAMES ?? null };
  if (args.bool('json')) {
    console.log(JSON.stringify(out, null, 2));
  } else {
    const r = ctx.report;
    console.log(`adapter   ${r.description || r.name} (${r.vendor} ${r.architecture})${r.isFallbackAdapter ? ' [fallback]' : ''}`);
    for (const [k, v] of Object.entries(r.limits)) console.log(`  ${k.padEnd(36)} ${v}`);
    console.log(`features  ${r.features.join(', ')}`);
    console.log(`selftest  ${selftest.maxError === 0 ? 'ok' : `FAILED (max error ${selftest.maxError})`}`);
  }
  rt.destroy();
}
