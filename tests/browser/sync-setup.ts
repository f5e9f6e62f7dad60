// Shared setup of the lip-sync browser tests: the harness page and the app built with the app's Vite config
// (public/ copied, so the demo clip and demo models are served under demo/), test inputs made with ffmpeg
// (a video without sound, a WAV) served beside them, and headless chromium on the harness.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { getPreset, modelFromConfig } from '../../src/nn/presets.ts';
import { ROOT } from '../../tools/serve.ts';
import { openHarnessPage, type Harness } from './harness-server.ts';

const INPUTS = resolve(ROOT, 'test-results/sync-inputs');

/** The inputs ffmpeg makes once: a 0.4 s (10 frame) H.264 clip without audio, and 0.64 s of a 220 Hz tone as 44.1 kHz 16-bit WAV. */
const FILES = ['silent-0.4s.mp4', 'tone-0.64s.wav'];
function ensureInputs(): void {
  if (FILES.every((f) => existsSync(join(INPUTS, f)))) return;
  mkdirSync(INPUTS, { recursive: true });
  const ff = (...args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: 'inherit' });
  ff('-f', 'lavfi', '-i', 'testsrc=s=64x64:r=25:d=0.4', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', join(INPUTS, FILES[0]!));
  ff('-f', 'lavfi', '-i', 'sine=f=220:r=44100:d=0.64', '-c:a', 'pcm_s16le', join(INPUTS, FILES[1]!));
}

/**
 * Untrained models for tests of the flow (not of the result): vae-tiny, and unet-tiny with cross-attention
 * 80 wide so it takes the 80-bin log-mel tokens as they are; seeded uniform weights, the configs in the
 * metadata as latent-lab exports write them. Returns the two file paths.
 */
export function ensureRandomModels(): { unet: string; vae: string } {
  const out = { unet: join(INPUTS, 'random-unet-tiny-80.safetensors'), vae: join(INPUTS, 'random-vae-tiny.safetensors') };
  if (existsSync(out.unet) && existsSync(out.vae)) return out;
  mkdirSync(INPUTS, { recursive: true });
  let seed = 1;
  const uniform = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1;
  const write = (path: string, config: Record<string, unknown>, preset: string) => {
    const model = modelFromConfig(config);
    const tensors = new Map([...model.expectedShapes()].map(([name, shape]) => [name, { dtype: 'F32' as const, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, uniform) }]));
    writeFileSync(path, writeSafetensors(tensors, { config: JSON.stringify(model.config), train_config: JSON.stringify({ resolution: 16 }), preset }) as Uint8Array);
  };
  write(out.unet, { ...getPreset('unet-tiny').config, cross_attention_dim: 80 }, 'unet-tiny');
  write(out.vae, getPreset('vae-tiny').config, 'vae-tiny');
  return out;
}

/** The app (index.html), demo/ (public/) and inputs/ are under the harness's URL. */
export type SyncHarness = Harness;

export async function openSyncHarness(): Promise<SyncHarness> {
  ensureInputs();
  return openHarnessPage({
    name: 'sync',
    pages: ['index.html', 'tests/browser/sync-harness.html'],
    port: 4373,
    timeoutMs: 120_000,
    addFiles(outDir) {
      mkdirSync(join(outDir, 'inputs'));
      for (const f of FILES) copyFileSync(join(INPUTS, f), join(outDir, 'inputs', f));
    },
  });
}
