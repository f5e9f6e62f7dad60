/**
 * The plan table the README quotes: LatentSync stage 1 (16 frames, batch 1) at 256 and 512 px, with and
 * without the memory levers and validation, planned on the meta device with this adapter's limits.
 * Run: npm run bench -- plan-table   (writes bench/results/plan-latentsync.{json,md})
 */
import { writeFileSync } from 'node:fs';
import { fmtBytes, parseBytes } from '../src/gpu/memory/bytes.ts';
import { acquireNodeDevice } from '../src/gpu/node-gpu.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../src/train/config.ts';
import { planTraining } from '../src/train/plan.ts';

const rows: { label: string; config: Partial<TrainConfig>; budget: string }[] = [
  { label: '256 px, as LatentSync runs it (no checkpointing, f32), training only', config: { resolution: 256 }, budget: '24GiB' },
  { label: '256 px, checkpointing, f32, with validation', config: { resolution: 256, checkpointing: true, validateEvery: 500 }, budget: '16GiB' },
  { label: '512 px, checkpointing, f32, with validation', config: { resolution: 512, checkpointing: true, validateEvery: 500 }, budget: '20GiB' },
  { label: '512 px, checkpointing, f16 activations, with validation', config: { resolution: 512, checkpointing: true, precision: 'f16', validateEvery: 500 }, budget: '20GiB' },
];

export async function run(): Promise<void> {
  const ctx = await acquireNodeDevice();
  const limits = ctx.report.limits;
  ctx.device.destroy();
  const out = [];
  for (const r of rows) {
    const config: TrainConfig = {
      ...DEFAULT_TRAIN,
      preset: `latentsync-stage1-${r.config.resolution}`,
      resolution: 256,
      audioTokens: 50,
      audioDim: 384,
      ...r.config,
    };
    const budget = parseBytes(r.budget);
    const p = await planTraining(config, limits, budget);
    out.push({ label: r.label, budget, fits: p.fits, peak: p.peak, peakLive: p.peakLive, peakByCategory: p.peakByCategory, validationPeak: p.phases.validation?.peak ?? null });
    console.log(`${r.label}: peak ${fmtBytes(p.peak)} (least budget ${fmtBytes(p.peakLive)}) under ${r.budget}: ${p.fits ? 'fits' : 'does not fit'}`);
  }
  writeFileSync('bench/results/plan-latentsync.json', JSON.stringify({ adapter: ctx.report.name, rows: out }, null, 2) + '\n');
  const md = [
    '| configuration | budget | fits | peak held | least budget (live peak) | weights | grads | AdamW | activations | validation |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...out.map((o) => {
      const c = o.peakByCategory;
      return `| ${o.label} | ${fmtBytes(o.budget)} | ${o.fits ? 'yes' : 'no'} | ${fmtBytes(o.peak)} | ${fmtBytes(o.peakLive)} | ${fmtBytes(c.weights)} | ${fmtBytes(c.grads)} | ${fmtBytes(c.optimizer)} | ${fmtBytes(c.activations)} | ${c.validation ? fmtBytes(c.validation) : '-'} |`;
    }),
  ];
  writeFileSync('bench/results/plan-latentsync.md', md.join('\n') + '\n');
}
