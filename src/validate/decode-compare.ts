import { BudgetExceededError, GpuAllocationError } from '../gpu/errors.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { scope } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { decodeTiledToHost, type Staging, type TiledReport } from './tiled-vae.ts';

/**
 * Tiled against untiled decode of the same latents, as the CLI's decode verb and the benchmark report
 * them: peaks are ledger-held bytes above what was held at the start (pool trimmed), times include the
 * readback of the images to the host.
 */
export interface UntiledResult {
  peakBytes: number;
  ms: number;
  values: Float32Array;
}

export interface DecodeComparison {
  tiled: TiledReport;
  untiled: { peakBytes: number; ms: number } | { skipped: string } | null;
  /** max |tiled - untiled| over every pixel, when both ran. */
  maxAbsDiff: number | null;
  tiledValues: Float32Array;
}

/** Seeded standard-normal-ish latents (Box-Muller over an LCG): reproducible, no GPU RNG needed. */
export function seededLatents(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / 2 ** 32;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/** model.decode, or the reason it could not run in the budget. */
export async function untiledDecode(rt: GpuRuntime, vae: AutoencoderKL, latents: Tensor): Promise<UntiledResult | { skipped: string }> {
  rt.ledger.trim();
  const held0 = rt.ledger.held;
  let maxHeld = held0;
  const off = rt.ledger.onEvent((e) => {
    if (e.type === 'alloc' && e.held > maxHeld) maxHeld = e.held;
  });
  const t0 = performance.now();
  try {
    const y = scope(() => noGrad(() => vae.decode(latents)));
    const values = await y.toArray();
    y.dispose();
    return { peakBytes: maxHeld - held0, ms: performance.now() - t0, values };
  } catch (e) {
    if (e instanceof BudgetExceededError || e instanceof GpuAllocationError) return { skipped: e.message };
    throw e;
  } finally {
    off();
  }
}

export async function compareDecode(
  rt: GpuRuntime,
  vae: AutoencoderKL,
  latents: Tensor,
  opts: { capBytes: number; tile?: number; staging?: Staging; compareUntiled: boolean },
): Promise<DecodeComparison> {
  let tiled: TiledReport | null = null;
  const host = await decodeTiledToHost(vae, latents, { capBytes: opts.capBytes, tile: opts.tile, staging: opts.staging, onReport: (r) => (tiled = r) });
  const untiled = opts.compareUntiled ? await untiledDecode(rt, vae, latents) : null;
  let maxAbsDiff: number | null = null;
  if (untiled && 'values' in untiled) {
    maxAbsDiff = 0;
    for (let i = 0; i < host.data.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(host.data[i] - untiled.values[i]));
  }
  const untiledOut = untiled && 'values' in untiled ? { peakBytes: untiled.peakBytes, ms: untiled.ms } : untiled;
  return { tiled: tiled!, untiled: untiledOut, maxAbsDiff, tiledValues: host.data };
}
