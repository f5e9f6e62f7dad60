import type { DeviceLimits } from '../gpu/device.ts';
import { BudgetExceededError } from '../gpu/errors.ts';
import { fmtBytes } from '../gpu/memory/bytes.ts';
import type { Category } from '../gpu/memory/categories.ts';
import type { PhaseStats } from '../gpu/memory/ledger.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { getPreset } from '../nn/presets.ts';
import { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { validateUnet } from '../validate/validation.ts';
import type { DType } from '../tensor/dtype.ts';
import { vaePresetOf, type TrainConfig } from './config.ts';
import { syntheticClips } from './synthetic-data.ts';
import { UnetTraining } from './unet-training.ts';

/** The peak memory of a configuration, per category and per phase, measured on the meta device. */
export interface PlanReport {
  config: TrainConfig;
  /** Peak held bytes (live + pooled) under the budget; when it does not fit, how far the step got. */
  peak: number;
  /** Peak live bytes: the least budget that could run this configuration (pool trimmed to nothing). */
  peakLive: number;
  /** The allocation the budget refused, when it does not fit. */
  refused: string | null;
  peakByCategory: Record<Category, number>;
  phases: Record<string, PhaseStats>;
  budget: number;
  fits: boolean;
}

/**
 * Runs one full training step of `config` on the meta device under `budget`: the same model, trainer, data
 * and ledger code as a real run (the pool is trimmed under budget pressure there as here), with every
 * allocation and free recorded and nothing allocated. A real run under the same budget allocates exactly
 * the same buffers, so its measured peak equals this one.
 */
export async function planTraining(config: TrainConfig, limits: DeviceLimits, budget = Number.POSITIVE_INFINITY): Promise<PlanReport> {
  const rt = GpuRuntime.meta(limits, { budget });
  let run: UnetTraining | null = null;
  let vae: AutoencoderKL | null = null;
  let refused: string | null = null;
  try {
    run = new UnetTraining(rt, config, planningClips(config));
    if (config.validateEvery > 0) vae = new AutoencoderKL(getPreset(vaePresetOf(config)).config).materialize(rt);
    await run.step();
    // One sampling step has the peak of twenty: each step's temporaries are freed before the next.
    if (vae) await validateUnet(run, vae, { steps: 1 });
  } catch (e) {
    if (!(e instanceof BudgetExceededError)) throw e;
    refused = e.message;
  } finally {
    run?.dispose();
    vae?.dispose();
  }
  const s = rt.ledger.snapshot();
  return { config, peak: s.peak, peakLive: s.peakLive, refused, peakByCategory: s.peakByCategory, phases: s.phases, budget, fits: refused === null };
}

/** Stand-in clips of the right shapes: the plan depends on shapes, not values. */
export function planningClips(c: TrainConfig) {
  const down = 2 ** ((getPreset(vaePresetOf(c)).config.block_out_channels as number[]).length - 1);
  const side = c.resolution / down;
  return syntheticClips({ clips: 1, frames: c.frames * 2 + 1, latentChannels: 4, height: side, width: side, tokens: c.audioTokens, dim: c.audioDim, seed: 0 });
}

export interface FitResult {
  /** The chosen configuration, or null when nothing fits. */
  chosen: PlanReport | null;
  /** Every candidate tried, in order of preference. */
  tried: PlanReport[];
  /** Why nothing fits and what comes closest, or what was given up to fit. */
  advice: string;
}

/**
 * Picks micro-batch, accumulation, checkpointing and precision that fit `budget`, preferring (in order) the
 * largest micro-batch (throughput), no checkpointing (no recompute), f32 (exactness). The batch the user
 * asked for is kept: a smaller micro-batch means more accumulation steps, never a different update.
 */
export async function fitTraining(config: TrainConfig, limits: DeviceLimits, budget: number, opts: { keepConfig?: boolean } = {}): Promise<FitResult> {
  const tried: PlanReport[] = [];
  // keepConfig: only check the configuration as given (what a run about to start needs).
  const micro = opts.keepConfig ? [config.microBatch] : divisorsDescending(config.batch);
  const levers: [boolean, DType][] = opts.keepConfig
    ? [[config.checkpointing, config.precision]]
    : [
        [false, 'f32'],
        [true, 'f32'],
        [false, 'f16'],
        [true, 'f16'],
      ];
  for (const microBatch of micro) {
    for (const [checkpointing, precision] of levers) {
      const r = await planTraining({ ...config, microBatch, checkpointing, precision }, limits, budget);
      tried.push(r);
      if (r.fits) return { chosen: r, tried, advice: describeChoice(config, r) };
    }
  }
  // The closest candidate is the one that needs the least; measure its need without a budget.
  const unbounded = await Promise.all(tried.map((r) => planTraining(r.config, limits)));
  const best = unbounded.reduce((a, b) => (b.peakLive < a.peakLive ? b : a));
  const weights = best.peakByCategory.weights + best.peakByCategory.grads + best.peakByCategory.optimizer;
  return {
    chosen: null,
    tried,
    advice:
      `Nothing fits ${fmtBytes(budget)}: the closest is micro-batch ${best.config.microBatch}, checkpointing ${best.config.checkpointing ? 'on' : 'off'}, ` +
      `${best.config.precision}, which needs ${fmtBytes(best.peakLive)} (weights, gradients and AdamW state alone take ${fmtBytes(weights)}). ` +
      `Raise the budget to at least ${fmtBytes(best.peakLive)}, lower the resolution or frames per sample, or use a smaller preset.`,
  };
}

function describeChoice(asked: TrainConfig, r: PlanReport): string {
  const c = r.config;
  const changes: string[] = [];
  if (c.microBatch !== asked.batch) changes.push(`micro-batch ${c.microBatch} with ${asked.batch / c.microBatch} accumulation steps`);
  if (c.checkpointing) changes.push('gradient checkpointing on');
  if (c.precision === 'f16') changes.push('f16 activations');
  return `Fits in ${fmtBytes(r.budget)} at a peak of ${fmtBytes(r.peak)}${changes.length ? ` with ${changes.join(', ')}` : ' as asked'}.`;
}

function divisorsDescending(n: number): number[] {
  const out: number[] = [];
  for (let d = n; d >= 1; d--) if (n % d === 0) out.push(d);
  return out;
}

