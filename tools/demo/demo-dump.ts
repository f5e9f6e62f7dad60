// Stage `dump`: the UNet's training data for the demo clip (what demoClipLatents hands the lab's trainer) as one
// .safetensors file, for tools/demo/train_demo_unet.py: PyTorch on the CPU trains the same model with the same
// recipe in minutes where SwiftShader needs hours (public/demo/README.md says why and what was checked).
import { writeFileSync } from 'node:fs';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import type { DemoClip } from './demo-clip.ts';
import { demoClipLatents } from './demo-latents.ts';
import { loadDemoVae } from './demo-vae.ts';
import { readManifest } from './demo-files.ts';

export async function dumpDemoData(rt: GpuRuntime, clip: DemoClip, path: string): Promise<void> {
  const vae = await loadDemoVae(rt);
  const latents = await demoClipLatents(rt, vae, clip);
  vae.dispose();
  const [c, h, w] = latents.shape;
  const [tokens, dim] = latents.audioShape;
  const n = latents.frames;
  const stack = (get: (f: number) => Float32Array | null, per: number) => {
    const out = new Float32Array(n * per);
    for (let f = 0; f < n; f++) out.set(get(f)!, f * per);
    return out;
  };
  const f32 = (data: Float32Array, shape: number[]) => ({ dtype: 'F32' as const, shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  const bytes = writeSafetensors(
    {
      latents: f32(stack(latents.latents, c * h * w), [n, c, h, w]),
      masked_latents: f32(stack(latents.maskedLatents, c * h * w), [n, c, h, w]),
      mask: f32(latents.mask, [h, w]),
      audio: f32(stack(latents.audio, tokens * dim), [n, tokens, dim]),
    },
    { scaling_factor: String(readManifest()?.vae?.scalingFactor), resolution: String(clip.config.resolution), audio: JSON.stringify(clip.config.audio) },
  );
  writeFileSync(path, bytes);
  console.log(`dump: ${n} frames, latents [${c}, ${h}, ${w}], audio [${tokens}, ${dim}] -> ${path} (${bytes.byteLength} bytes)`);
}
