import { writeFileSync } from 'node:fs';
import { fmtBytes } from '../../gpu/memory/bytes.ts';
import { acquireNodeDevice } from '../../gpu/node-gpu.ts';
import { GpuRuntime } from '../../gpu/runtime.ts';
import { writeSafetensors } from '../../io/safetensors.ts';
import { exportStateDict } from '../../nn/state-dict.ts';
import { planningClips } from '../../train/plan.ts';
import { UnetTraining } from '../../train/unet-training.ts';
import type { Args } from '../args.ts';
import { budgetFromArgs, trainConfigFromArgs } from './train-config.ts';

export const help = 'train a UNet preset in Node on Dawn: --preset P --data synthetic --steps N [--budget B] [--out FILE.safetensors] [--json]';

export async function run(args: Args): Promise<void> {
  const config = trainConfigFromArgs(args);
  const data = args.str('data', 'synthetic');
  if (data !== 'synthetic') throw new Error(`--data ${data}: only "synthetic" is available from the CLI so far; datasets come from the app`);
  const steps = args.num('steps', 10)!;
  const rt = GpuRuntime.forDevice(await acquireNodeDevice(), { budget: budgetFromArgs(args) });
  const run = await UnetTraining.create(rt, config, planningClips(config));
  const json = args.bool('json');
  const curve: { step: number; loss: number; ms: number }[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    const r = await run.step();
    const ms = performance.now() - t;
    curve.push({ step: r.step, loss: r.loss, ms });
    if (!json) console.log(`step ${String(r.step).padStart(5)}  loss ${r.loss.toFixed(6)}  ${(1000 / ms).toFixed(2)} it/s${r.skipped ? '  (skipped: overflow)' : ''}`);
  }
  const s = rt.ledger.snapshot();
  const out = args.str('out');
  if (out) writeFileSync(out, writeSafetensors(await exportStateDict(run.model), { config: JSON.stringify(run.model.config), step: String(run.trainer.step), format: 'latent-lab/1' }));
  if (json) console.log(JSON.stringify({ config, curve, peak: s.peak, peakByCategory: s.peakByCategory, seconds: (performance.now() - t0) / 1000 }, null, 2));
  else console.log(`peak ${fmtBytes(s.peak)}${out ? `; weights written to ${out}` : ''}`);
  run.dispose();
  rt.destroy();
}
