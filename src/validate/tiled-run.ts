import type { GpuRuntime } from '../gpu/runtime.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { splitMoments } from '../nn/vae/diagonal-gaussian.ts';
import { scope } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { StagedActivation, type HostTensor } from './staged-activation.ts';
import { walk, type Staging, type WalkCounts } from './tiled-walk.ts';
import { decoderSteps, encoderSteps, type StepGraph } from './vae-steps.ts';

export type Direction = 'decode' | 'encode';

/** How a tiled run is cut: tile edge, where maps are staged, and how many images go through at once. */
export interface TileSettings {
  tile: number;
  staging: Staging;
  imagesPerChunk: number;
}

export interface RunOutput {
  /** decode to the GPU: images; encode: the moments' split. */
  images: Tensor | null;
  mean: Tensor | null;
  logvar: Tensor | null;
  host: HostTensor | null;
  /** Highest ledger-held bytes above what was held at the start (after the pool was trimmed). */
  peakBytes: number;
  counts: WalkCounts;
  ms: number;
}

export const graphFor = (vae: AutoencoderKL, direction: Direction, h: number, w: number): StepGraph =>
  direction === 'decode' ? decoderSteps(vae, h, w) : encoderSteps(vae, h, w);

/**
 * One tiled encode or decode with fixed settings, in the ledger phase 'validation', under a hard cap: the
 * pool is trimmed first (so that this run's peak is what the planner predicts, not a leftover of earlier
 * buffer sizes) and the ledger's budget is lowered to held + cap while it runs, so that nothing can pass
 * the cap: a request that would is refused with a BudgetExceededError. The meta device runs this same code
 * when planning. Inputs are f32 (cast first otherwise).
 */
export async function runTiled(
  rt: GpuRuntime,
  vae: AutoencoderKL,
  direction: Direction,
  input: Tensor | HostTensor,
  settings: TileSettings,
  capBytes: number,
  output: 'gpu' | 'host',
): Promise<RunOutput> {
  if (input instanceof Tensor && input.dtype !== 'f32') throw new Error(`tiled ${direction}: input is ${input.dtype}; cast it to f32 first`);
  if (direction === 'encode' && output === 'host') throw new Error('tiled encode writes its moments on the GPU');
  const [n, c, h, w] = input.shape;
  const graph = graphFor(vae, direction, h, w);
  const want = direction === 'decode' ? vae.config.latent_channels : vae.config.in_channels;
  if (input.shape.length !== 4 || c !== want) throw new Error(`tiled ${direction}: input [${input.shape}] needs ${want} channels`);
  const per = Math.max(1, Math.min(n, Math.floor(settings.imagesPerChunk)));
  const outInfo = graph.maps[graph.maps.length - 1];
  const outShape = [n, outInfo.channels, outInfo.h, outInfo.w];
  const outPlane = outInfo.channels * outInfo.h * outInfo.w;

  const ledger = rt.ledger;
  ledger.trim();
  const held0 = ledger.held;
  const budget = ledger.budget;
  ledger.budget = Math.min(budget, held0 + capBytes);
  let maxHeld = held0;
  const unsubscribe = ledger.onEvent((e) => {
    if (e.type === 'alloc' && e.held > maxHeld) maxHeld = e.held;
  });
  const t0 = performance.now();
  const counts: WalkCounts = { tiles: 0, hostMaps: 0, gpuMaps: 0 };
  const result: RunOutput = { images: null, mean: null, logvar: null, host: null, peakBytes: 0, counts, ms: 0 };
  try {
    await ledger.inPhase('validation', async () => {
      const target = output === 'gpu' ? Tensor.empty(rt, outShape, 'f32', 'validation', `tiled ${direction} output`) : null;
      // zeros on the meta device, full size: what reads it (sync's composite) runs unchanged there
      const host = output === 'host' ? { shape: outShape, data: new Float32Array(n * outPlane) } : null;
      try {
        for (let n0 = 0; n0 < n; n0 += per) {
          const k = Math.min(per, n - n0);
          // a shorter last chunk cannot reuse the pooled buffers of full chunks' sizes: free them first, or
          // they would stay held under its own and the run would peak higher for fewer images
          if (k < per && n0 > 0) ledger.trim();
          const src =
            input instanceof Tensor ? StagedActivation.view(input, n0, k) : StagedActivation.onHost(rt, [k, c, h, w], 'input', input.data, n0 * c * h * w);
          const chunkShape = [k, outInfo.channels, outInfo.h, outInfo.w] as const;
          const dst = target ? StagedActivation.view(target, n0, k) : StagedActivation.onHost(rt, chunkShape, 'output', host!.data, n0 * outPlane);
          const got = await walk(rt, graph, src, dst, settings);
          counts.tiles += got.tiles;
          counts.hostMaps += got.hostMaps;
          counts.gpuMaps += got.gpuMaps;
        }
      } catch (e) {
        target?.dispose();
        throw e;
      }
      if (rt.ctx) await rt.sync();
      if (direction === 'encode') {
        const { mean, logvar } = noGrad(() => scope(() => splitMoments(target!)));
        target!.dispose();
        Object.assign(result, { mean, logvar });
      } else {
        Object.assign(result, { images: target, host });
      }
    });
  } finally {
    ledger.budget = budget;
    unsubscribe();
  }
  result.peakBytes = maxHeld - held0;
  result.ms = performance.now() - t0;
  return result;
}
