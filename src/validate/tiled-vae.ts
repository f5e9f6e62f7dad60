import type { GpuRuntime } from '../gpu/runtime.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { HostTensor } from './staged-activation.ts';
import { chooseTile } from './tile-plan.ts';
import { runTiled, type Direction, type RunOutput, type TileSettings } from './tiled-run.ts';
import type { Staging } from './tiled-walk.ts';

/**
 * The exact tiled VAE (DESIGN.md, "Validation decode in tiles"): decode and encode whose output equals the
 * untiled model's to float rounding, for any tile size, under a byte cap the ledger enforces.
 *
 * - Convolutions run tile by tile on the input region plus the halo they need (3x3: one pixel; the nearest
 *   2x upsampling is folded into the fetch; the encoder's stride-2 conv reads 2t + 1 rows); where the halo
 *   leaves the map, the conv pads with zeros exactly as the whole-map conv does.
 * - Every GroupNorm's mean and biased variance are reduced over all tiles before any tile is normalized:
 *   each tile's per-group (mean, M2) comes from the GPU in f32 (two passes over the tile), the tiles merge
 *   on the host in f64 (Chan et al.), and the normalize kernel applies them with GroupNorm's own expression.
 * - The mid-block attention runs as the module itself (memory-efficient attention) over the whole latent map.
 * - Maps between steps stay on the GPU as the tiles that wrote them, or in host memory, as the plan says.
 *
 * Without a tile (and staging), the plan comes from chooseTile on the meta device: the largest tile that
 * fits, whose peak the real run then measures to the byte.
 */
export interface TiledOptions {
  /** Bytes the run may hold above what is held when it starts (also bounded by the ledger's budget). */
  capBytes: number;
  /** Tile edge in pixels of each map's own resolution; default: the largest that fits. */
  tile?: number;
  staging?: Staging;
  imagesPerChunk?: number;
  onReport?: (r: TiledReport) => void;
}

export interface TiledReport extends TileSettings {
  direction: Direction;
  /** The cap in force: min(capBytes, budget - held at the start). */
  capBytes: number;
  peakBytes: number;
  /** The meta device's peak for these settings, when they were planned (null: given by the caller). */
  plannedPeakBytes: number | null;
  ms: number;
  tiles: number;
  gpuMaps: number;
  hostMaps: number;
}

const runtimeOf = (vae: AutoencoderKL): GpuRuntime => vae.decoder.convIn.weight.t.rt;

async function tiled(vae: AutoencoderKL, direction: Direction, input: Tensor | HostTensor, opts: TiledOptions, output: 'gpu' | 'host'): Promise<RunOutput> {
  const rt = runtimeOf(vae);
  const ledger = rt.ledger;
  ledger.trim();
  const capBytes = Math.min(opts.capBytes, ledger.budget - ledger.held);
  let settings: TileSettings;
  let planned: number | null = null;
  if (opts.tile !== undefined && opts.staging !== undefined) {
    settings = { tile: opts.tile, staging: opts.staging, imagesPerChunk: opts.imagesPerChunk ?? input.shape[0] };
  } else {
    const plan = await chooseTile(vae.config, input.shape, capBytes, {
      direction,
      limits: rt.limits,
      pooling: ledger.pooling,
      poolCap: ledger.poolCap,
      weightDtype: vae.decoder.convIn.weight.t.dtype,
      inputOnHost: !('rt' in input),
      output,
      tiles: opts.tile !== undefined ? [opts.tile] : undefined,
      stagings: opts.staging !== undefined ? [opts.staging] : undefined,
      imagesPerChunk: opts.imagesPerChunk !== undefined ? [opts.imagesPerChunk] : undefined,
    });
    settings = { tile: plan.tile, staging: plan.staging, imagesPerChunk: plan.imagesPerChunk };
    planned = plan.peakBytes;
  }
  const out = await runTiled(rt, vae, direction, input, settings, capBytes, output);
  opts.onReport?.({ direction, ...settings, capBytes, peakBytes: out.peakBytes, plannedPeakBytes: planned, ms: out.ms, ...out.counts });
  return out;
}

/** latents [N, latent_channels, h, w] (f32, unscaled) -> images [N, out_channels, H, W] on the GPU ('validation'). */
export async function decodeTiled(vae: AutoencoderKL, latents: Tensor, opts: TiledOptions): Promise<Tensor> {
  return (await tiled(vae, 'decode', latents, opts, 'gpu')).images!;
}

/** As decodeTiled, with the images written to host memory tile by tile (they never sit whole on the GPU). */
export async function decodeTiledToHost(vae: AutoencoderKL, latents: Tensor, opts: TiledOptions): Promise<HostTensor> {
  return (await tiled(vae, 'decode', latents, opts, 'host')).host!;
}

/** images [N, in_channels, H, W] (f32 in [-1, 1], on the GPU or the host) -> the latent distribution, as vae.encode. */
export async function encodeTiled(vae: AutoencoderKL, images: Tensor | HostTensor, opts: TiledOptions): Promise<{ mean: Tensor; logvar: Tensor }> {
  const out = await tiled(vae, 'encode', images, opts, 'gpu');
  return { mean: out.mean!, logvar: out.logvar! };
}

export { chooseTile, plannedPeak, tileCandidates, DEFAULT_LIMITS, type PlanOptions, type TilePlan } from './tile-plan.ts';
export type { HostTensor } from './staged-activation.ts';
export type { Staging } from './tiled-walk.ts';
export type { TileSettings } from './tiled-run.ts';
