// Lip sync as LatentSync's inference runs it, one chunk of frames at a time: crop each frame through the
// face box, encode it and its masked copy with the VAE (exact tiled encode), DDIM from one noise draw shared
// across the chunk's frames with classifier-free guidance on the audio, exact tiled decode, then blend the
// generated mouth back into the full frame. Nothing of a chunk stays on the GPU after it is written, so the
// ledger's peak does not grow with the length of the video; everything runs in the ledger phase 'sync'.
// No DOM: runs in the worker and in Node.
import { cropResizeRgba, rgbToChw } from '../data/crop.ts';
import { applyMask, latentMask, pixelMask } from '../data/mask.ts';
import { ddimStep, sharedNoise, type SyncConditioning } from '../diffusion/ddim-sampler.ts';
import { Rng } from '../diffusion/rng.ts';
import { NoiseSchedule } from '../diffusion/schedule.ts';
import { fmtBytes } from '../gpu/memory/bytes.ts';
import { BudgetExceededError } from '../gpu/errors.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { full } from '../tensor/ops/fill.ts';
import { scale } from '../tensor/ops/scale.ts';
import { keep, scope } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';
import { decodeTiledToHost, encodeTiled, type HostTensor, type TileSettings, type TiledReport } from '../validate/tiled-vae.ts';
import { SYNC_FPS, SyncCancelledError, type SyncAudioFeatures, type SyncFrameSource, type SyncModels, type SyncOptions, type SyncResult } from './api.ts';
import { checkSync, type SyncPlan } from './check.ts';
import { blendWeights, compositeFrame } from './composite.ts';
import { pingPongIndex } from './frame-order.ts';

/** One chunk's input on the host: its RGBA frames and the crops the VAE encodes (n originals, then n masked). */
interface ChunkInput {
  rgba: Uint8Array[];
  images: HostTensor;
}

export async function lipSync(rt: GpuRuntime, models: SyncModels, video: SyncFrameSource, audio: SyncAudioFeatures, opts: SyncOptions): Promise<SyncResult> {
  const plan = checkSync(models, video, audio, opts);
  const ledger = rt.ledger;
  const t0 = performance.now();
  const frames = audio.frames;
  const chunks = Math.ceil(frames / plan.chunkFrames);
  let written = 0;
  let peak = ledger.held;
  const stopWatching = ledger.onEvent((e) => (peak = Math.max(peak, e.held)));
  const cancelPoint = () => {
    if (opts.signal?.aborted) throw new SyncCancelledError(written);
  };
  const report = (chunk: number) => {
    const elapsed = (performance.now() - t0) / 1000;
    opts.onProgress?.({ frame: written, frames, chunk, chunks, etaSeconds: written ? (elapsed / written) * (frames - written) : null, peakBytes: peak });
  };
  const ctx: ChunkContext = {
    rt,
    models,
    plan,
    schedule: new NoiseSchedule(),
    rng: new Rng(plan.seed),
    pixelMask: pixelMask(plan.resolution, plan.mask),
    latentMask: latentMask(plan.resolution, plan.mask, plan.factor),
    tiles: new Map(),
    cancelPoint,
  };
  const weights = blendWeights(opts.box.size, plan.mask);
  try {
    return await ledger.inPhase('sync', async () => {
      ledger.trim();
      peak = ledger.held;
      report(0);
      for (let chunk = 0; chunk < chunks; chunk++) {
        cancelPoint();
        const start = chunk * plan.chunkFrames;
        const n = Math.min(plan.chunkFrames, frames - start);
        // the pool holds buffers of the full chunk's sizes, which a shorter last chunk cannot reuse: give them
        // back first, so the last chunk peaks below a full one and the run's peak does not depend on the length
        if (n < plan.chunkFrames) ledger.trim();
        const input = await readChunk(video, opts, plan, ctx.pixelMask, start, n);
        const generated = await generateChunk(ctx, input.images, audio, start, n);
        const per = 3 * plan.resolution * plan.resolution;
        for (let f = 0; f < n; f++) {
          const out = compositeFrame(input.rgba[f]!, video.width, video.height, opts.box, generated.data.subarray(f * per, (f + 1) * per), plan.resolution, weights);
          await opts.sink.write(start + f, out);
          written++;
        }
        report(chunk + 1);
      }
      return { frames, fps: SYNC_FPS, durationSeconds: frames / SYNC_FPS, peakBytes: peak, ms: performance.now() - t0 };
    });
  } catch (e) {
    if (e instanceof BudgetExceededError) {
      throw new Error(
        `lip sync does not fit the memory budget (${fmtBytes(ledger.budget)}): ${e.message}. Raise the budget, or sync with fewer frames per chunk (${plan.chunkFrames} now) or a lower resolution.`,
        { cause: e },
      );
    }
    throw e;
  } finally {
    stopWatching();
    // a cancelled or failed run leaves nothing: every chunk tensor is disposed by now; give the pool back too
    ledger.trim();
  }
}

/** Frames of output indices start .. start + n - 1 (the video looped back and forth), cropped, and their masked copies. */
async function readChunk(video: SyncFrameSource, opts: SyncOptions, plan: SyncPlan, mask: Float32Array, start: number, n: number): Promise<ChunkInput> {
  const res = plan.resolution;
  const per = 3 * res * res;
  const data = new Float32Array(2 * n * per);
  const rgba: Uint8Array[] = [];
  for (let f = 0; f < n; f++) {
    const source = pingPongIndex(start + f, video.frameCount);
    const frame = await video.read(source);
    if (frame.length !== video.width * video.height * 4) {
      throw new Error(`lip sync: the video source gave ${frame.length} bytes for frame ${source}; a ${video.width}x${video.height} RGBA frame has ${video.width * video.height * 4}`);
    }
    rgba.push(frame);
    const chw = rgbToChw(cropResizeRgba(frame, video.width, video.height, opts.box, res), res, data.subarray(f * per, (f + 1) * per));
    data.set(applyMask(chw, mask), (n + f) * per);
  }
  return { rgba, images: { shape: [2 * n, 3, res, res], data } };
}

interface ChunkContext {
  rt: GpuRuntime;
  models: SyncModels;
  plan: SyncPlan;
  schedule: NoiseSchedule;
  rng: Rng;
  pixelMask: Float32Array;
  latentMask: Float32Array;
  /** Tile settings planned once per direction, on the first (full) chunk, and kept for every later chunk: the
   *  planner fills the free budget, so a shorter last chunk planned afresh could get settings with another
   *  peak, and the run's peak would depend on the clip's length. */
  tiles: Map<string, TileSettings>;
  cancelPoint: () => void;
}

/** The tiled VAE's options: the settings the first chunk planned, or plan them now and remember them. */
function tileOptions(ctx: ChunkContext, key: 'encode' | 'decode') {
  const known = ctx.tiles.get(key);
  const ledger = ctx.rt.ledger;
  return {
    capBytes: ledger.budget - ledger.held,
    ...(known ?? {}),
    onReport: (r: TiledReport) => ctx.tiles.set(key, { tile: r.tile, staging: r.staging, imagesPerChunk: r.imagesPerChunk }),
  };
}

/** The chunk's crops (n originals, n masked) -> n generated crops, [n, 3, res, res] in [-1, 1] on the host. */
async function generateChunk(ctx: ChunkContext, images: HostTensor, audio: SyncAudioFeatures, start: number, n: number): Promise<HostTensor> {
  const { rt, plan } = ctx;
  const { unet, vae } = ctx.models;
  const sf = vae.scalingFactor;
  const c = plan.channels, h = plan.latentSize, hw = h * h, per = c * hw;

  // encode: the latent means of the frames (reference) and the masked frames, scaled into the UNet's space
  const dist = await encodeTiled(vae, images, tileOptions(ctx, 'encode'));
  let latents: Float32Array;
  try {
    latents = await dist.mean.toArray();
  } finally {
    dist.mean.dispose();
    dist.logvar.dispose();
  }
  for (let i = 0; i < latents.length; i++) latents[i]! *= sf;
  ctx.cancelPoint();

  const [tokens, dim] = audio.tokenShape;
  const audioTokens = new Float32Array(n * tokens * dim);
  for (let f = 0; f < n; f++) audioTokens.set(audio.tokens(start + f), f * tokens * dim);
  const masks = new Float32Array(n * hw);
  for (let f = 0; f < n; f++) masks.set(ctx.latentMask, f * hw);
  // every tensor of the chunk is disposed on the way out, whether it ends, fails or is cancelled
  const owned: Tensor[] = [];
  const own = (t: Tensor) => (owned.push(t), t);
  const up = (data: Float32Array, shape: number[], label: string) => own(Tensor.fromArray(rt, data, shape, 'f32', 'data', label));
  let x: Tensor | null = null;
  let decodeInput: Tensor;
  try {
    const cond: SyncConditioning = {
      mask: up(masks, [n, 1, h, h], 'sync mask'),
      maskedLatents: up(latents.subarray(n * per), [n, c, h, h], 'sync masked latents'),
      refLatents: up(latents.subarray(0, n * per), [n, c, h, h], 'sync reference latents'),
      audio: up(audioTokens, [n, tokens, dim], 'sync audio'),
      frames: n,
    };
    const g = plan.guidance;
    // the unconditional: zero audio tokens, as ddimSample and LatentSync's zeros_like(audio_embeds)
    const nullAudio = g !== 1 ? own(full(rt, [n, tokens, dim], 0, 'data', 'null audio')) : null;
    x = sharedNoise(rt, ctx.rng.normals(per), n, [c, h, h]);
    // DDIM as ddimSample runs it, with an await between steps: the GPU catches up and a cancel can land
    const ts = ctx.schedule.ddimTimesteps(plan.steps);
    const ratio = Math.floor(ctx.schedule.config.numTrainTimesteps / plan.steps);
    for (const t of ts) {
      const next: Tensor = ddimStep(unet, ctx.schedule, cond, x, t, t - ratio, nullAudio, g);
      x.dispose();
      x = next;
      await rt.sync();
      ctx.cancelPoint();
    }
    const last: Tensor = x;
    decodeInput = keep(scope(() => scale(last, 1 / sf)));
  } finally {
    x?.dispose();
    for (const t of owned) t.dispose();
  }
  try {
    return await decodeTiledToHost(vae, decodeInput, tileOptions(ctx, 'decode'));
  } finally {
    decodeInput.dispose();
  }
}
