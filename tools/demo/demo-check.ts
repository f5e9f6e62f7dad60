// Stage 3: does the demo UNet's mouth follow the audio? Loads both committed files as a consumer would,
// generates lower faces with the DDIM sampler (CFG, zero audio as the null condition, one noise shared by
// the frames of a chunk, each frame its own reference as LatentSync's inference does) and measures the
// mouth's darkness: 1 - mean luma (0..1) over the clip's mouth box scaled to the crop.
//   1. loud vs silent: the same frames, noise and references with loud audio and with silent audio.
//   2. (--reversed-frames N) new audio: the clip's first N frames against its speech time-reversed (audio
//      the UNet never saw); the darkness's correlation with the reversed loudness envelope, against 200
//      shuffles of it. Off by default: on SwiftShader it costs minutes per chunk of 16 frames.
import { readFileSync } from 'node:fs';
import { LATENTSYNC_WINDOW, melTokens } from '../../src/data/audio-tokens.ts';
import { audioFeatures } from '../../src/data/ingest.ts';
import { Rng } from '../../src/diffusion/rng.ts';
import { NoiseSchedule } from '../../src/diffusion/schedule.ts';
import { ddimSample, sharedNoise } from '../../src/diffusion/ddim-sampler.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { UNet3DConditionModel } from '../../src/nn/unet/unet-3d-condition.ts';
import type { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { scale } from '../../src/nn/ops.ts';
import { scope } from '../../src/tensor/scope.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import type { ClipLatents } from '../../src/train/sample.ts';
import { DEMO_MOUTH, type DemoClip } from './demo-clip.ts';
import { readManifest, writeManifest } from './demo-files.ts';
import { demoClipLatents } from './demo-latents.ts';
import { loadDemoUnet } from './demo-unet.ts';
import { loadDemoVae } from './demo-vae.ts';

const GUIDANCE = 1.5;
const CHUNK = 16;
/** Frames of the loud-vs-silent comparison (one chunk). */
const PAIRS = 8;
const SHUFFLES = 200;

interface MouthTruth {
  open: number[];
  /** [x, y, w, h] in the clip's pixels. */
  box: [number, number, number, number];
  width: number;
}

/** Mouth darkness of CHW frames in [-1, 1]: 1 - mean luma over the mouth box (scaled to `size`). */
export function mouthDarkness(chw: Float32Array, size: number, truth: MouthTruth): number {
  const s = size / truth.width;
  const [bx, by, bw, bh] = truth.box;
  const x0 = Math.floor(bx * s), x1 = Math.ceil((bx + bw) * s), y0 = Math.floor(by * s), y1 = Math.ceil((by + bh) * s);
  const hw = size * size;
  let sum = 0, n = 0;
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) {
      const p = y * size + x;
      const luma = 0.299 * chw[p]! + 0.587 * chw[hw + p]! + 0.114 * chw[2 * hw + p]!;
      sum += 1 - (luma + 1) / 2;
      n++;
    }
  return sum / n;
}

export function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n, mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Generates frames `idx` (one chunk) with the given audio tokens per frame; returns CHW pixels per frame. */
async function generate(rt: GpuRuntime, unet: UNet3DConditionModel, vae: AutoencoderKL, clip: ClipLatents, idx: number[], audio: (k: number) => Float32Array, noise: Float32Array, steps: number): Promise<Float32Array[]> {
  const [c, h, w] = clip.shape;
  const [tokens, dim] = clip.audioShape;
  const n = idx.length;
  const stack = (get: (k: number) => Float32Array, per: number) => {
    const out = new Float32Array(n * per);
    idx.forEach((_, k) => out.set(get(k), k * per));
    return out;
  };
  const schedule = new NoiseSchedule();
  const pixels = noGrad(() =>
    scope(() => {
      const up = (data: Float32Array, shape: number[], label: string) => Tensor.fromArray(rt, data, shape, 'f32', 'validation', label);
      const cond = {
        mask: up(stack(() => clip.mask, h * w), [n, 1, h, w], 'mask'),
        maskedLatents: up(stack((k) => clip.maskedLatents(idx[k]!), c * h * w), [n, c, h, w], 'masked latents'),
        refLatents: up(stack((k) => clip.latents(idx[k]!), c * h * w), [n, c, h, w], 'reference latents'),
        audio: up(stack(audio, tokens * dim), [n, tokens, dim], 'audio'),
        frames: n,
      };
      const x = ddimSample(unet, schedule, cond, sharedNoise(rt, noise, n, [c, h, w]), { steps, guidance: GUIDANCE });
      try {
        return vae.decode(scale(x, 1 / vae.scalingFactor));
      } finally {
        x.dispose(); // ddimSample hands its result over, outside any scope
      }
    }),
  );
  const data = await pixels.toArray();
  pixels.dispose();
  const per = data.length / n;
  return idx.map((_, k) => data.subarray(k * per, (k + 1) * per));
}

export async function checkDemoUnet(rt: GpuRuntime, clip: DemoClip, STEPS = 20, reversedFrames = 0): Promise<Record<string, unknown>> {
  const size = clip.config.resolution;
  const j = JSON.parse(readFileSync(DEMO_MOUTH, 'utf8')) as { mouth_open: number[]; mouth_box: [number, number, number, number]; width: number };
  const truth: MouthTruth = { open: j.mouth_open, box: j.mouth_box, width: j.width };
  if (truth.open.length !== clip.frames) throw new Error(`${DEMO_MOUTH} has ${truth.open.length} frames, the clip ${clip.frames}`);
  const vae = await loadDemoVae(rt);
  const unet = await loadDemoUnet(rt);
  const latents = await demoClipLatents(rt, vae, clip);
  const rng = new Rng(4242);
  const [c, h, w] = latents.shape;

  // the measure itself, on the clip's frames and on their VAE reconstructions' inputs
  const gtDark = Array.from({ length: clip.frames }, (_, f) => mouthDarkness(clip.chw(f), size, truth));
  const measure = pearson(gtDark, truth.open);
  console.log(`check: mouth darkness vs mouth_open on the clip's own ${size} px frames: r = ${measure.toFixed(3)}`);

  // 1. loud vs silent, the same frames spread over the clip
  const order = [...truth.open.keys()].sort((a, b) => truth.open[b]! - truth.open[a]!);
  const loud = order.slice(0, PAIRS);
  const silent = order.filter((f) => truth.open[f] === 0).slice(0, PAIRS);
  const targets = Array.from({ length: PAIRS }, (_, k) => Math.floor(((k + 0.5) * clip.frames) / PAIRS));
  const noise = rng.normals(c * h * w);
  const t0 = performance.now();
  const withLoud = await generate(rt, unet, vae, latents, targets, (k) => clip.tokens(loud[k % loud.length]!), noise, STEPS);
  const msChunk = performance.now() - t0;
  const withSilent = await generate(rt, unet, vae, latents, targets, (k) => clip.tokens(silent[k % silent.length]!), noise, STEPS);
  const dl = withLoud.map((p) => mouthDarkness(p, size, truth)), ds = withSilent.map((p) => mouthDarkness(p, size, truth));
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  const darker = dl.filter((v, k) => v > ds[k]!).length;
  const openGt = mean(loud.map((f) => gtDark[f]!)), closedGt = mean(silent.map((f) => gtDark[f]!));
  console.log(`check: loud vs silent audio on ${PAIRS} frames (${STEPS} DDIM steps, guidance ${GUIDANCE}, ${(msChunk / 1000).toFixed(1)} s a chunk): darkness ${mean(dl).toFixed(4)} vs ${mean(ds).toFixed(4)}; loud darker in ${darker}/${PAIRS}; the clip's own open / closed frames: ${openGt.toFixed(4)} / ${closedGt.toFixed(4)}`);

  // follows the audio: loud darker in nearly every frame, by a tenth of the clip's own open-closed gap
  const followsAudio = darker >= PAIRS - 1 && mean(dl) - mean(ds) > 0.1 * (openGt - closedGt);
  console.log(`check: the mouth ${followsAudio ? 'follows' : 'does NOT follow'} the audio`);
  const result: Record<string, unknown> = {
    followsAudio,
    ddimSteps: STEPS,
    guidance: GUIDANCE,
    measure: 'mouth darkness = 1 - mean luma (0..1) over mouth_box scaled to the crop',
    measureVsTruthOnClipFrames: round(measure),
    loudVsSilent: { frames: PAIRS, loud: round(mean(dl)), silent: round(mean(ds)), loudDarkerIn: darker, perFrameLoud: dl.map(round), perFrameSilent: ds.map(round), clipOpen: round(openGt), clipClosed: round(closedGt) },
    secondsPerChunk: Number((msChunk / 1000).toFixed(1)),
  };
  if (reversedFrames > 0) result.reversedSpeech = await reversedSpeech(rt, unet, vae, latents, clip, truth, rng, STEPS, Math.min(reversedFrames, clip.frames));
  const manifest = readManifest();
  if (manifest?.unet) {
    manifest.unet.check = result;
    writeManifest(manifest);
  }
  unet.dispose();
  vae.dispose();
  return result;
}

/** The first `frames` frames generated with the clip's speech time-reversed; correlations with the envelopes. */
async function reversedSpeech(rt: GpuRuntime, unet: UNet3DConditionModel, vae: AutoencoderKL, latents: ClipLatents, clip: DemoClip, truth: MouthTruth, rng: Rng, STEPS: number, frames: number) {
  const size = clip.config.resolution;
  const [c, h, w] = latents.shape;
  const reversed = clip.pcm.slice().reverse();
  const { features, featureShape } = await audioFeatures(reversed, clip.config, null);
  const [nMels, nFrames] = featureShape as [number, number];
  const revTokens = (f: number) => melTokens(features, nMels, nFrames, f, clip.config.fps, LATENTSYNC_WINDOW);
  const revOpen = truth.open.map((_, f) => truth.open[clip.frames - 1 - f]!).slice(0, frames);
  const videoOpen = truth.open.slice(0, frames);
  const dark: number[] = [];
  for (let s = 0; s < frames; s += CHUNK) {
    const idx = Array.from({ length: Math.min(CHUNK, frames - s) }, (_, k) => s + k);
    const chunkNoise = rng.normals(c * h * w);
    const out = await generate(rt, unet, vae, latents, idx, (k) => revTokens(idx[k]!), chunkNoise, STEPS);
    dark.push(...out.map((p) => mouthDarkness(p, size, truth)));
    process.stdout.write(`\rcheck: reversed audio, frame ${s + idx.length}/${frames}`);
  }
  process.stdout.write('\n');
  const rAudio = pearson(dark, revOpen), rVideo = pearson(dark, videoOpen);
  const shuffled: number[] = [];
  for (let i = 0; i < SHUFFLES; i++) {
    const perm = rng.permutation(revOpen.length);
    shuffled.push(pearson(dark, perm.map((p) => revOpen[p]!)));
  }
  shuffled.sort((a, b) => a - b);
  const p95 = shuffled[Math.floor(0.95 * SHUFFLES)]!;
  console.log(`check: reversed speech, ${frames} frames: r(darkness, reversed envelope) = ${rAudio.toFixed(3)}; shuffled baseline 95th percentile ${p95.toFixed(3)}; r(darkness, the video's own mouth) = ${rVideo.toFixed(3)}`);
  return { frames, rWithAudioEnvelope: round(rAudio), shuffledP95: round(p95), rWithVideoMouth: round(rVideo) };
}

const round = (v: number) => Number(v.toFixed(4));
