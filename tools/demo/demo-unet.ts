// Stage 2 with the lab's own trainer on Dawn: unet-tiny trained on the demo VAE's latents of the clip, conditioned
// on the clip's log-mel tokens (20 x 80 a frame, projected to the model's cross-attention width by a projection
// learned with it). The committed file comes from the same recipe run in PyTorch (train_demo_unet.py, on the
// data `--stage dump` writes): on SwiftShader this trainer needs hours for the thousands of steps lip sync takes.
// The weights are written every SAVE_EVERY steps, so a run cut short still leaves a usable file (and,
// with a constant learning rate, the same file a shorter run would write).
import { readFileSync } from 'node:fs';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { loadStateDict } from '../../src/nn/state-dict.ts';
import { UNet3DConditionModel } from '../../src/nn/unet/unet-3d-condition.ts';
import { importWeights, openWeights } from '../../src/train/checkpoint-export.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../../src/train/config.ts';
import { UnetTraining } from '../../src/train/unet-training.ts';
import type { DemoClip } from './demo-clip.ts';
import { lossSummary, readManifest, UNET_FILE, writeManifest, writeWeights } from './demo-files.ts';
import { demoClipLatents } from './demo-latents.ts';
import { loadDemoVae } from './demo-vae.ts';

export const UNET_PRESET = 'unet-tiny';
// A constant rate: the file saved at step k is exactly what --unet-steps k gives.
const SAVE_EVERY = 25;
const LR = 1e-3;

export function demoUnetConfig(resolution: number, tokens: number, dim: number): TrainConfig {
  return {
    ...DEFAULT_TRAIN,
    preset: UNET_PRESET,
    resolution,
    frames: 2,
    batch: 2,
    microBatch: 2,
    lr: LR,
    weightDecay: 0,
    audioDropout: 0.1,
    audioTokens: tokens,
    audioDim: dim,
    vaePreset: 'vae-tiny',
  };
}

/**
 * Trains `steps` steps. With `resume`, starts from the committed file's weights and step count (the optimizer
 * state starts afresh, and the data stream is seeded with seed + that step, so it does not replay the first run's).
 */
export async function trainDemoUnet(rt: GpuRuntime, clip: DemoClip, steps: number, resume = false): Promise<void> {
  const vae = await loadDemoVae(rt);
  const latents = await demoClipLatents(rt, vae, clip);
  vae.dispose();
  const [tokens, dim] = latents.audioShape;
  const previous = resume ? await openWeights(readFileSync(UNET_FILE)) : null;
  const before = previous ? Number(previous.metadata.step) : 0;
  const base = demoUnetConfig(clip.config.resolution, tokens, dim);
  const config = { ...base, seed: base.seed + before };
  const run = await UnetTraining.create(rt, config, [latents]);
  if (previous) await importWeights(run, previous);
  console.log(`unet: ${UNET_PRESET} at ${config.resolution} px (latents [${latents.shape}]), ${config.frames} frames x batch ${config.batch}, audio [${tokens}, ${dim}] -> ${run.model.config.cross_attention_dim}${previous ? `, resumed at step ${before}` : ''}`);
  const losses: number[] = previous ? [...(readManifest()?.unet?.loss.curve ?? [])] : [];
  if (losses.length !== before) throw new Error(`the manifest's UNet loss curve has ${losses.length} steps, the file ${before}: retrain from scratch`);
  const t0 = performance.now();
  const save = async (done: number) => {
    const written = await writeWeights(UNET_FILE, run.model, {
      format: 'latent-lab/1',
      config: JSON.stringify(run.model.config),
      train_config: JSON.stringify(config),
      preset: UNET_PRESET,
      step: String(done),
      trained_on: 'public/demo/demo.mp4',
    });
    const manifest = readManifest();
    if (!manifest?.vae) throw new Error('the manifest has no VAE entry: run the vae stage first');
    manifest.unet = {
      preset: UNET_PRESET,
      file: UNET_FILE.replace('public/', ''),
      resolution: config.resolution,
      frames: config.frames,
      audio: {
        features: clip.config.audio,
        window: clip.config.window,
        tokenShape: [tokens, dim],
        projection: `audio_projection.* (config audio_feature_shape [${tokens}, ${dim}]): learned Linear ${dim} -> ${run.model.config.cross_attention_dim} plus a position embedding per token`,
      },
      dtype: written.dtype,
      bytes: written.bytes,
      stepsTrained: done,
      lr: LR,
      finalLoss: Number(lossSummary(losses).last10.toPrecision(4)),
      loss: lossSummary(losses),
      secondsPerStep: Number(((performance.now() - t0) / 1000 / (done - before)).toFixed(2)),
      ...(before ? { resumedAt: before } : {}),
      check: manifest.unet?.stepsTrained === done ? manifest.unet.check : undefined,
    };
    writeManifest(manifest);
    console.log(`  saved ${UNET_FILE} at step ${done} (${written.bytes} bytes, ${written.dtype})`);
  };
  for (let i = 0; i < steps; i++) {
    const r = await run.step();
    losses.push(r.loss);
    if (i % 10 === 0 || i === steps - 1) {
      const s = (performance.now() - t0) / 1000 / (i + 1);
      const recent = losses.slice(-10);
      console.log(`unet step ${String(before + i + 1).padStart(4)}/${before + steps}  loss ${r.loss.toFixed(4)} (mean of last ${recent.length} ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)})  ${s.toFixed(2)} s/step`);
    }
    if ((i + 1) % SAVE_EVERY === 0 || i === steps - 1) await save(before + i + 1);
  }
  const l = lossSummary(losses);
  console.log(`unet: ${steps} steps, loss ${l.first10.toFixed(4)} -> ${l.last10.toFixed(4)}`);
  run.dispose();
}

/** The committed demo UNet, built from its file's config (audio projection included) and weights. */
export async function loadDemoUnet(rt: GpuRuntime): Promise<UNet3DConditionModel> {
  const w = await openWeights(readFileSync(UNET_FILE));
  const unet = new UNet3DConditionModel(JSON.parse(w.metadata.config!) as Record<string, unknown>);
  await loadStateDict(unet, rt, w);
  return unet;
}
