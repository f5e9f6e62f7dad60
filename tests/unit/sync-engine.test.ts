// lipSync on Dawn with the tiny presets (random weights): output length follows the audio, the video loops
// back and forth, pixels outside the box are the input's bytes, the peak is flat over the length and under
// the budget, cancel leaves nothing on the GPU, bad input is refused with what to do.
import { describe, expect, it } from 'vitest';
import { maskRect } from '../../src/data/mask.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';
import { modelFromPreset } from '../../src/nn/presets.ts';
import type { UNet3DConditionModel } from '../../src/nn/unet/unet-3d-condition.ts';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { getPreset } from '../../src/nn/presets.ts';
import { lipSync, pingPongIndex, syncAudio, type SyncAudioFeatures, type SyncFrameSource, type SyncModels, type SyncOptions } from '../../src/sync/api.ts';
import { blendWeights } from '../../src/sync/composite.ts';
import { DEFAULT_LIMITS } from '../../src/validate/tile-plan.ts';
import { testRuntime } from '../helpers/gpu.ts';

const W = 24, H = 20;
const BOX = { x: 5, y: 3, size: 16 };
const RES = 16;

function models(rt: GpuRuntime): SyncModels {
  const unet = (modelFromPreset('unet-tiny') as UNet3DConditionModel).materialize(rt, { seed: 5, requiresGrad: false });
  const vae = (modelFromPreset('vae-tiny') as AutoencoderKL).materialize(rt, { seed: 6, requiresGrad: false });
  return { unet, vae };
}

/** Frame i: seeded random bytes, so every frame differs from every other; the reads are logged. */
function video(frameCount: number): SyncFrameSource & { reads: number[]; frame(i: number): Uint8Array } {
  const frame = (i: number) => {
    let s = 0x9e3779b9 ^ (i * 7919);
    return Uint8Array.from({ length: W * H * 4 }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16) & 255);
  };
  const reads: number[] = [];
  return {
    width: W,
    height: H,
    frameCount,
    reads,
    frame,
    async read(i) {
      reads.push(i);
      return frame(i);
    },
  };
}

/** Tokens as wide as unet-tiny's cross-attention (16), different for every frame. */
function audio(frames: number): SyncAudioFeatures {
  return { frames, tokenShape: [3, 16], tokens: (k) => Float32Array.from({ length: 48 }, (_, i) => Math.sin(k * 0.7 + i * 0.3)) };
}

function sink() {
  const out: { index: number; rgba: Uint8Array }[] = [];
  return { out, async write(index: number, rgba: Uint8Array) { out.push({ index, rgba }); } };
}

const base = (s: ReturnType<typeof sink>): SyncOptions => ({ sink: s, box: BOX, resolution: RES, steps: 1, guidance: 1.5, chunkFrames: 4 });

describe('lipSync (tiny models on Dawn)', { timeout: 900_000 }, () => {
  it('makes one frame per audio frame, loops the video back and forth, and changes only the mouth region inside the box', async () => {
    const rt = await testRuntime();
    const m = models(rt);
    const v = video(5);
    const s = sink();
    const progress: number[] = [];
    const r = await lipSync(rt, m, v, audio(13), { ...base(s), onProgress: (p) => progress.push(p.frame) });
    expect(r.frames).toBe(13);
    expect(r.fps).toBe(25);
    expect(r.durationSeconds).toBeCloseTo(13 / 25, 12);
    expect(s.out.map((o) => o.index)).toEqual([...Array(13).keys()]);
    // LatentSync's loop_video: frames, frames[::-1], frames, ...
    expect(v.reads).toEqual([0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 0, 1, 2]);
    expect(v.reads).toEqual([...Array(13).keys()].map((k) => pingPongIndex(k, 5)));
    expect(progress).toEqual([0, 4, 8, 12, 13]);

    const weights = blendWeights(BOX.size);
    let changedInside = 0;
    for (const { index, rgba } of s.out) {
      const input = v.frame(pingPongIndex(index, 5));
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const inBox = x >= BOX.x && x < BOX.x + BOX.size && y >= BOX.y && y < BOX.y + BOX.size;
          const blended = inBox && weights[(y - BOX.y) * BOX.size + (x - BOX.x)]! > 0;
          for (let c = 0; c < 4; c++) {
            const p = (y * W + x) * 4 + c;
            if (!blended || c === 3) expect(rgba[p], `frame ${index} (${x}, ${y}) channel ${c}`).toBe(input[p]);
            else if (rgba[p] !== input[p]) changedInside++;
          }
        }
      }
    }
    // the generated mouth did replace pixels (random frames: the model's output is not the input)
    expect(changedInside).toBeGreaterThan(13 * 3 * 20);
    // what is blended lies in the mask's rectangle, the lower half of the box
    const rect = maskRect(BOX.size);
    for (let i = 0; i < weights.length; i++) if (weights[i]! > 0) expect(Math.floor(i / BOX.size)).toBeGreaterThanOrEqual(rect.y0);
  });

  it('holds the same peak for 3 chunks (the last one short) and for 8, under the budget, and keeps nothing afterwards', async () => {
    const budget = 48 * 1024 * 1024;
    const rt = await testRuntime({ budget });
    const m = models(rt);
    rt.ledger.trim();
    const weightsOnly = rt.ledger.snapshot().live;
    // chunks of 2 frames keep the test short on SwiftShader; the chunk's shape, not its size, is the point
    const opts = { ...base(sink()), chunkFrames: 2 };
    const short = await lipSync(rt, m, video(3), audio(5), { ...opts, sink: sink() });
    const afterShort = rt.ledger.snapshot();
    const long = await lipSync(rt, m, video(3), audio(16), { ...opts, sink: sink() });
    const afterLong = rt.ledger.snapshot();
    console.log(`sync peak: short (5 frames, 3 chunks) ${short.peakBytes} B, long (16 frames, 8 chunks) ${long.peakBytes} B; ${(short.ms / 5).toFixed(0)} / ${(long.ms / 16).toFixed(0)} ms a frame (1 step, CFG)`);
    expect(long.peakBytes).toBe(short.peakBytes);
    expect(short.peakBytes).toBeGreaterThan(weightsOnly);
    expect(long.peakBytes).toBeLessThanOrEqual(budget);
    expect(afterLong.phases.sync!.peak).toBe(long.peakBytes);
    for (const s of [afterShort, afterLong]) {
      expect(s.live).toBe(weightsOnly);
      expect(s.pooled).toBe(0);
    }
  });

  it('cancels between chunks and between DDIM steps, leaving nothing on the GPU', async () => {
    const rt = await testRuntime();
    const m = models(rt);
    rt.ledger.trim();
    const weightsOnly = rt.ledger.snapshot().live;

    const betweenChunks = new AbortController();
    const s1 = sink();
    const run1 = lipSync(rt, m, video(4), audio(12), { ...base(s1), signal: betweenChunks.signal, onProgress: (p) => p.chunk === 1 && betweenChunks.abort() });
    await expect(run1).rejects.toMatchObject({ name: 'AbortError', framesWritten: 4 });
    expect(s1.out.map((o) => o.index)).toEqual([0, 1, 2, 3]);
    expect(rt.ledger.snapshot()).toMatchObject({ live: weightsOnly, pooled: 0 });

    // abort while the first DDIM step of the first chunk is being recorded: it lands at the step's end
    const betweenSteps = new AbortController();
    const stop = rt.ledger.onEvent((e) => e.type === 'alloc' && e.label === 'timestep' && betweenSteps.abort());
    const s2 = sink();
    await expect(lipSync(rt, m, video(4), audio(12), { ...base(s2), steps: 3, signal: betweenSteps.signal })).rejects.toMatchObject({ name: 'AbortError', framesWritten: 0 });
    stop();
    expect(s2.out).toEqual([]);
    expect(rt.ledger.snapshot()).toMatchObject({ live: weightsOnly, pooled: 0 });
  });

  it('refuses bad input with what to do, before any GPU work', async () => {
    // configs only: checks read model configs, nothing is materialized
    const unet = modelFromPreset('unet-tiny') as UNet3DConditionModel;
    const vae = modelFromPreset('vae-tiny') as AutoencoderKL;
    const rt = await testRuntime();
    const peakBefore = rt.ledger.snapshot().peak;
    const ok = { unet, vae };
    const run = (o: Partial<SyncOptions>, a: SyncAudioFeatures | null = audio(4), m: SyncModels = ok, v = video(4)) =>
      lipSync(rt, m, v, a as SyncAudioFeatures, { ...base(sink()), ...o });
    await expect(run({}, null)).rejects.toThrow(/no audio.*audio track/);
    await expect(run({}, audio(0))).rejects.toThrow(/no audio/);
    await expect(run({ box: { x: 10, y: 0, size: 16 } })).rejects.toThrow(/outside the 24x20 video.*inside the frame/);
    await expect(run({ box: { x: -1, y: 0, size: 16 } })).rejects.toThrow(/outside/);
    await expect(run({ resolution: 17 })).rejects.toThrow(/not a multiple of the VAE's downsampling \(2\)/);
    await expect(run({ resolution: 18 })).rejects.toThrow(/9x9 latents.*UNet's 2x downsampling/);
    const wideVae = new AutoencoderKL({ ...getPreset('vae-tiny').config, latent_channels: 8 });
    await expect(run({}, audio(4), { unet, vae: wideVae })).rejects.toThrow(/does not match the VAE's 8 latent channels/);
    // the dataset's default log-mel tokens (20 x 80) into a UNet whose cross-attention is 16 wide
    const speech = await syncAudio(Float32Array.from({ length: 16000 }, (_, i) => Math.sin(i * 0.05)));
    await expect(run({}, speech)).rejects.toThrow(/\[20,80\].*takes 16 wide tokens/);
    await expect(run({ steps: 0 })).rejects.toThrow(/steps 0/);
    await expect(run({}, audio(4), ok, video(0))).rejects.toThrow(/no frames/);
    expect(rt.ledger.snapshot().peak).toBe(peakBefore);
  });
});

// LatentSync's own inference grows from 17 to 23 GB over a long clip. Here, at LatentSync's size (the stage-1
// UNet at 256 px, the SD VAE, Whisper-shaped audio, 16-frame chunks, CFG) on the planner's meta device (the
// same code, no GPU work, a desktop GPU's limits): a 60 s clip peaks at exactly the byte of a 5 s clip, under
// a 24 GiB budget, whatever the length of its last chunk.
describe('lipSync memory at LatentSync size (meta device)', { timeout: 900_000 }, () => {
  it('peaks at the same byte for 5 s and 60 s, and for any last-chunk length', async () => {
    const budget = 24 * 2 ** 30;
    const rt = GpuRuntime.meta(DEFAULT_LIMITS, { budget });
    const unet = (modelFromPreset('latentsync-stage1-256') as UNet3DConditionModel).materialize(rt, { requiresGrad: false });
    const vae = (modelFromPreset('sd-vae-ft-mse') as AutoencoderKL).materialize(rt, { requiresGrad: false });
    const weights = rt.ledger.snapshot().live;
    const size = 256;
    const frame = new Uint8Array(size * size * 4);
    const peakFor = async (frames: number) => {
      const r = await lipSync(
        rt,
        { unet, vae },
        { width: size, height: size, frameCount: 100, read: async () => frame },
        { frames, tokenShape: [50, 384], tokens: () => new Float32Array(50 * 384) },
        { sink: { write: async () => {} }, box: { x: 0, y: 0, size }, resolution: size, steps: 2, guidance: 1.5 },
      );
      expect(r.frames).toBe(frames);
      expect(rt.ledger.snapshot().live).toBe(weights);
      return r.peakBytes;
    };
    const fiveSeconds = await peakFor(125); // 7 chunks of 16 and one of 13
    const sixtySeconds = await peakFor(1500); // 93 chunks of 16 and one of 12
    const tails = [];
    for (const frames of [128, 129, 143]) tails.push(await peakFor(frames)); // last chunk 16, 1, 15
    console.log(`sync at LatentSync size (meta): weights ${weights} B; peak 5 s ${fiveSeconds} B, 60 s ${sixtySeconds} B, 128/129/143 frames ${tails.join(' / ')} B`);
    expect(sixtySeconds).toBe(fiveSeconds);
    for (const p of tails) expect(p).toBe(fiveSeconds);
    expect(fiveSeconds).toBeGreaterThan(weights);
    expect(fiveSeconds).toBeLessThanOrEqual(budget);
  });
});
