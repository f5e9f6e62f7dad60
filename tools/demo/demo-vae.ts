// Stage 1: vae-tiny fitted to the demo clip's face crops. Afterwards its scaling_factor is set as
// diffusers does for a new VAE: 1 / std of the latent means over the clip, so the UNet sees latents of
// unit variance (the SD VAE's 0.18215 was measured on its own latents and means nothing for these).
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { openWeights } from '../../src/train/checkpoint-export.ts';
import { loadStateDict } from '../../src/nn/state-dict.ts';
import { DEFAULT_VAE_TRAIN, VaeTraining } from '../../src/train/vae-training.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { scope } from '../../src/tensor/scope.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { psnr } from '../../src/validate/metrics.ts';
import { readFileSync } from 'node:fs';
import type { DemoClip } from './demo-clip.ts';
import { lossSummary, MANIFEST_FILE, readManifest, VAE_FILE, writeManifest, writeWeights, type DemoManifest } from './demo-files.ts';

export const VAE_PRESET = 'vae-tiny';
const BATCH = 4;
const LR = 2e-3;

/** Step-decayed learning rate: full for 60% of the run, then a tenth. */
const lrAt = (step: number, steps: number) => (step < 0.6 * steps ? LR : LR / 10);

export async function trainDemoVae(rt: GpuRuntime, clip: DemoClip, steps: number): Promise<AutoencoderKL> {
  const size = clip.config.resolution;
  const frames = { count: clip.frames, height: size, width: size, frame: (i: number) => clip.chw(i) };
  const run = new VaeTraining(rt, { ...DEFAULT_VAE_TRAIN, preset: VAE_PRESET, batch: BATCH, lr: LR }, frames);
  const losses: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    (run.trainer.optimizer.opts as { lr: number }).lr = lrAt(i, steps);
    const r = await run.step();
    losses.push(r.loss);
    if (i % 10 === 0 || i === steps - 1) {
      const s = (performance.now() - t0) / 1000 / (i + 1);
      console.log(`vae step ${String(i + 1).padStart(4)}/${steps}  loss ${r.loss.toFixed(5)}  ${s.toFixed(2)} s/step`);
    }
  }
  const vae = run.model;
  const { std, recon } = await latentStats(rt, vae, clip);
  vae.config.scaling_factor = Number((1 / std).toPrecision(6));
  const manifest: DemoManifest = readManifest() ?? baseManifest(clip);
  const written = await writeWeights(VAE_FILE, vae, {
    format: 'latent-lab/1',
    config: JSON.stringify(vae.config),
    preset: VAE_PRESET,
    step: String(steps),
    trained_on: 'public/demo/demo.mp4',
  });
  manifest.vae = {
    preset: VAE_PRESET,
    file: VAE_FILE.replace('public/', ''),
    resolution: size,
    latentFactor: 2,
    latentShape: [vae.config.latent_channels, size / 2, size / 2],
    scalingFactor: vae.config.scaling_factor,
    dtype: written.dtype,
    bytes: written.bytes,
    stepsTrained: steps,
    batch: BATCH,
    loss: lossSummary(losses),
    psnr: Number(recon.toFixed(2)),
  };
  writeManifest(manifest);
  console.log(`vae: ${steps} steps, loss ${manifest.vae.loss.first10.toFixed(4)} -> ${manifest.vae.loss.last10.toFixed(4)}, PSNR ${recon.toFixed(2)} dB, latent std ${std.toFixed(4)} -> scaling_factor ${vae.config.scaling_factor}; ${written.bytes} bytes (${written.dtype}) in ${VAE_FILE}, manifest ${MANIFEST_FILE}`);
  // the trainer's optimizer state is not needed past here; the model is
  run.trainer.dispose();
  return vae;
}

/** The committed demo VAE, built from its file's config and weights. */
export async function loadDemoVae(rt: GpuRuntime): Promise<AutoencoderKL> {
  const w = await openWeights(readFileSync(VAE_FILE));
  const vae = new AutoencoderKL(JSON.parse(w.metadata.config!) as Record<string, unknown>);
  await loadStateDict(vae, rt, w);
  return vae;
}

/** Std of the latent means over the clip, and the PSNR of decoding them back. */
async function latentStats(rt: GpuRuntime, vae: AutoencoderKL, clip: DemoClip): Promise<{ std: number; recon: number }> {
  const size = clip.config.resolution;
  const images = new Float32Array(clip.frames * 3 * size * size);
  for (let f = 0; f < clip.frames; f++) images.set(clip.chw(f), f * 3 * size * size);
  const [mean, decoded] = noGrad(() =>
    scope(() => {
      const x = Tensor.fromArray(rt, images, [clip.frames, 3, size, size], 'f32', 'data', 'demo frames');
      const m = vae.encode(x).mean;
      return [m, vae.decode(m)];
    }),
  );
  const [mv, dv] = await Tensor.readAll([mean, decoded]);
  mean.dispose();
  decoded.dispose();
  let s = 0, s2 = 0;
  for (const v of mv) {
    s += v;
    s2 += v * v;
  }
  const mu = s / mv.length;
  return { std: Math.sqrt(s2 / mv.length - mu * mu), recon: psnr(dv, images) };
}

function baseManifest(clip: DemoClip): DemoManifest {
  return {
    description:
      'Demo models trained on public/demo/demo.mp4 by tools/demo/train-demo-models.ts: a vae-tiny fitted to the clip, and a unet-tiny that redraws the lower face from the masked frame, a reference frame and the audio.',
    regenerate: 'nice -n 10 node --no-warnings --import tsx --import ./tools/register-hooks.mjs tools/demo/train-demo-models.ts',
    clip: { file: 'demo/demo.mp4', frames: clip.frames, fps: clip.config.fps, box: clip.box },
    resolution: clip.config.resolution,
    mask: clip.config.mask,
  };
}
