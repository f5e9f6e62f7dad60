import type { DeviceLimits } from '../gpu/device.ts';
import { BudgetExceededError, GpuAllocationError } from '../gpu/errors.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import type { AutoencoderKLConfig } from '../nn/vae/config.ts';
import type { DType } from '../tensor/dtype.ts';
import { Tensor } from '../tensor/tensor.ts';
import { graphFor, runTiled, type Direction, type TileSettings } from './tiled-run.ts';
import type { Staging } from './tiled-walk.ts';

/** WebGPU's default limits: what every adapter offers, the planner's device when none is named. */
export const DEFAULT_LIMITS: DeviceLimits = {
  maxBufferSize: 268435456,
  maxStorageBufferBindingSize: 134217728,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupSizeZ: 64,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupsPerDimension: 65535,
  maxUniformBufferBindingSize: 65536,
  maxBindGroups: 4,
};

export interface PlanOptions {
  direction?: Direction;
  /** The device whose limits (binding sizes, grid) shape the chunking; default: WebGPU's defaults. */
  limits?: DeviceLimits;
  /** The ledger's pool settings, so that the plan pools (and trims) as the real run will. */
  pooling?: boolean;
  poolCap?: number;
  weightDtype?: DType;
  /** The input is read from host memory (encode of frames on the host). */
  inputOnHost?: boolean;
  output?: 'gpu' | 'host';
  /** Candidates, best first; defaults: every tile edge from the largest map down, 3 stagings, all images down to 1. */
  tiles?: number[];
  stagings?: Staging[];
  imagesPerChunk?: number[];
}

export interface TilePlan extends TileSettings {
  /** The run's peak above what was held at its start, as the meta device measured it. */
  peakBytes: number;
  capBytes: number;
  /** Meta runs it took. */
  tried: number;
}

/**
 * The peak of one tiled run with these settings, measured on the meta device (same code, no GPU work), or
 * null when it does not fit the cap (or a binding limit).
 */
export async function plannedPeak(
  vaeConfig: AutoencoderKLConfig | Record<string, unknown>,
  inputShape: readonly number[],
  settings: TileSettings,
  capBytes: number,
  opts: PlanOptions = {},
  model = new AutoencoderKL(vaeConfig),
): Promise<number | null> {
  const rt = GpuRuntime.meta(opts.limits ?? DEFAULT_LIMITS, { pooling: opts.pooling, poolCap: opts.poolCap });
  model.materialize(rt, { init: 'empty', dtype: opts.weightDtype ?? 'f32', requiresGrad: false });
  const input = opts.inputOnHost ? { shape: [...inputShape], data: new Float32Array(0) } : Tensor.empty(rt, inputShape, 'f32', 'data', 'planned input');
  try {
    const out = await runTiled(rt, model, opts.direction ?? 'decode', input, settings, capBytes, opts.output ?? 'gpu');
    return out.peakBytes;
  } catch (e) {
    if (e instanceof BudgetExceededError || e instanceof GpuAllocationError || e instanceof RangeError) return null;
    throw e;
  }
}

/** Every tile edge worth trying, largest first: the largest map's edge, then multiples of 8, then 4. */
export function tileCandidates(maxEdge: number): number[] {
  const out = [maxEdge];
  for (let t = Math.floor((maxEdge - 1) / 8) * 8; t >= 8; t -= 8) out.push(t);
  if (maxEdge > 4) out.push(4);
  return out;
}

/**
 * The largest tile whose tiled run fits `capBytes` above what is held when it starts, computed on the meta
 * device by running the same tiled code: the plan's peak is the peak a real run with these settings
 * measures. Among options that reach the same tile edge, staging on the GPU is preferred to half on the
 * GPU, then to host memory, and more images at once to fewer. Throws when nothing fits.
 */
export async function chooseTile(
  vaeConfig: AutoencoderKLConfig | Record<string, unknown>,
  inputShape: readonly number[],
  capBytes: number,
  opts: PlanOptions = {},
): Promise<TilePlan> {
  const model = new AutoencoderKL(vaeConfig);
  const graph = graphFor(model, opts.direction ?? 'decode', inputShape[2], inputShape[3]);
  const maxEdge = Math.max(...graph.maps.map((m) => Math.max(m.h, m.w)));
  const n = inputShape[0];
  const images = opts.imagesPerChunk ?? [...new Set(Array.from({ length: Math.ceil(Math.log2(n)) + 1 }, (_, i) => Math.ceil(n / 2 ** i)))];
  const stagings = opts.stagings ?? ['gpu', { gpuBytes: Math.floor(capBytes / 2) }, 'host'];
  const tiles = opts.tiles ?? tileCandidates(maxEdge);
  let tried = 0;
  let best: TilePlan | null = null;
  let bestIndex = tiles.length;
  const attempt = async (i: number, staging: Staging, imagesPerChunk: number): Promise<TilePlan | null> => {
    tried++;
    const settings = { tile: tiles[i], staging, imagesPerChunk };
    const peak = await plannedPeak(vaeConfig, inputShape, settings, capBytes, opts, model);
    return peak === null ? null : { ...settings, peakBytes: peak, capBytes, tried };
  };
  // Per (staging, images), in order of preference: binary search for the largest fitting tile among those
  // larger than the best so far (the peak grows with the tile edge; small tiles, slow to plan, are probed
  // last); a later option wins only with a larger tile.
  for (const staging of stagings) {
    for (const imagesPerChunk of images) {
      let [lo, hi] = [0, bestIndex - 1];
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const plan = await attempt(mid, staging, imagesPerChunk);
        if (plan) [best, bestIndex, hi] = [plan, mid, mid - 1];
        else lo = mid + 1;
      }
    }
  }
  if (best) return { ...best, tried };
  throw new Error(`tiled ${opts.direction ?? 'decode'} of [${inputShape}]: nothing fits ${capBytes} bytes (${tried} plans tried; the smallest tile still needs more)`);
}
