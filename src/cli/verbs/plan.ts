import { fmtBytes } from '../../gpu/memory/bytes.ts';
import { CATEGORIES } from '../../gpu/memory/categories.ts';
import { acquireNodeDevice } from '../../gpu/node-gpu.ts';
import { fitTraining, planTraining, type PlanReport } from '../../train/plan.ts';
import type { Args } from '../args.ts';
import { budgetFromArgs, trainConfigFromArgs } from './train-config.ts';

export const help = 'peak memory of a training configuration, on the meta device; --budget B picks what fits [--json]';

export async function run(args: Args): Promise<void> {
  const config = trainConfigFromArgs(args);
  const budget = budgetFromArgs(args);
  const ctx = await acquireNodeDevice();
  const limits = ctx.report.limits;
  ctx.device.destroy();
  const fixed = args.bool('no-fit') || budget === undefined;
  const result = fixed ? { chosen: await planTraining(config, limits, budget), tried: [], advice: '' } : await fitTraining(config, limits, budget);
  if (args.bool('json')) {
    console.log(JSON.stringify({ ...result, tried: result.tried.map(summary), chosen: result.chosen && summary(result.chosen) }, null, 2));
    return;
  }
  const r = result.chosen ?? result.tried.reduce((a, b) => (b.peak < a.peak ? b : a));
  console.log(`${config.preset}  ${config.resolution}px  ${config.frames} frames  batch ${config.batch}`);
  console.log(`micro-batch ${r.config.microBatch}, checkpointing ${r.config.checkpointing ? 'on' : 'off'}, ${r.config.precision}`);
  for (const c of CATEGORIES) if (r.peakByCategory[c]) console.log(`  ${c.padEnd(12)} ${fmtBytes(r.peakByCategory[c])}`);
  for (const [phase, s] of Object.entries(r.phases)) if (s.peak) console.log(`  phase ${phase.padEnd(12)} peak ${fmtBytes(s.peak)}`);
  console.log(`live peak ${fmtBytes(r.peakLive)} (the least budget this configuration can run in)`);
  console.log(`peak ${fmtBytes(r.peak)}${budget ? ` of ${fmtBytes(budget)}: ${r.fits ? 'fits' : 'does not fit'}` : ''}`);
  if (result.advice) console.log(result.advice);
}

const summary = (r: PlanReport) => ({
  microBatch: r.config.microBatch,
  accumulation: r.config.batch / r.config.microBatch,
  checkpointing: r.config.checkpointing,
  precision: r.config.precision,
  peak: r.peak,
  peakLive: r.peakLive,
  refused: r.refused,
  peakByCategory: r.peakByCategory,
  phases: Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, v.peak])),
  budget: Number.isFinite(r.budget) ? r.budget : null,
  fits: r.fits,
});
