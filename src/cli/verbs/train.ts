import { writeFileSync } from 'node:fs';
import { fmtBytes } from '../../gpu/memory/bytes.ts';
import { acquireNodeDevice } from '../../gpu/node-gpu.ts';
import { GpuRuntime } from '../../gpu/runtime.ts';
import { writeSafetensors } from '../../io/safetensors.ts';
import { exportStateDict } from '../../nn/state-dict.ts';
import { getPreset } from '../../nn/presets.ts';
import { AutoencoderKL } from '../../nn/vae/autoencoder-kl.ts';
import { vaePresetOf } from '../../train/config.ts';
import { planningClips } from '../../train/plan.ts';
import { validateUnet } from '../../validate/validation.ts';
import { UnetTraining } from '../../train/unet-training.ts';
import type { Args } from '../args.ts';
import { budgetFromArgs, trainConfigFromArgs } from './train-config.ts';

export const help = 'train a UNet preset in Node on Dawn: --preset P --data synthetic --steps N [--budget B] [--validate-every N] [--audio-dropout P] [--out FILE.safetensors] [--json]';

export async function run(args: Args): Promise<void> {
  const config = trainConfigFromArgs(args);
  const data = args.str('data', 'synthetic');
  if (data !== 'synthetic') throw new Error(`--data ${data}: only "synthetic" is available from the CLI so far; datasets come from the app`);
  const steps = args.num('steps', 10)!;
  const rt = GpuRuntime.forDevice(await acquireNodeDevice(), { budget: budgetFromArgs(args) });
  const run = await UnetTraining.create(rt, config, planningClips(config));
  // Validation decodes with a VAE of the configured preset (seeded weights: synthetic data has no real VAE).
  const vae = config.validateEvery > 0 ? new AutoencoderKL(getPreset(vaePresetOf(config)).config).materialize(rt, { seed: config.seed }) : null;
  const json = args.bool('json');
  const curve: { step: number; loss: number; ms: number }[] = [];
  const validations: { step: number; psnr: number; mouthL1: number; ms: number; tile: number | null }[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    const r = await run.step();
    const ms = performance.now() - t;
    curve.push({ step: r.step, loss: r.loss, ms });
    if (!json) console.log(`step ${String(r.step).padStart(5)}  loss ${r.loss.toFixed(6)}  ${(1000 / ms).toFixed(2)} it/s${r.skipped ? '  (skipped: overflow)' : ''}`);
    if (vae && r.step % config.validateEvery === 0) {
      const v = await validateUnet(run, vae, { steps: args.num('validation-steps', 20) });
      validations.push({ step: r.step, psnr: v.psnr, mouthL1: v.mouthL1, ms: v.ms, tile: v.decode?.tile ?? null });
      if (!json) console.log(`  validation: PSNR ${v.psnr.toFixed(2)} dB, mouth L1 ${v.mouthL1.toFixed(4)}, ${(v.ms / 1000).toFixed(1)} s`);
    }
  }
  const s = rt.ledger.snapshot();
  const out = args.str('out');
  if (out) writeFileSync(out, writeSafetensors(await exportStateDict(run.model), { config: JSON.stringify(run.model.config), step: String(run.trainer.step), format: 'latent-lab/1' }));
  if (json) console.log(JSON.stringify({ config, curve, validations, peak: s.peak, peakByCategory: s.peakByCategory, seconds: (performance.now() - t0) / 1000 }, null, 2));
  else console.log(`peak ${fmtBytes(s.peak)}${out ? `; weights written to ${out}` : ''}`);
  vae?.dispose();
  run.dispose();
  rt.destroy();
}
