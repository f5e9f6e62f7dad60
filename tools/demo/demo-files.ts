// Where the demo models live, the manifest's shape, and reading/writing both.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { exportStateDict } from '../../src/nn/state-dict.ts';
import type { Module } from '../../src/nn/module.ts';
import type { FaceBox } from '../../src/data/crop.ts';
import type { MaskParams } from '../../src/data/mask.ts';
import type { AudioFeatureConfig } from '../../src/store/dataset-store.ts';
import type { TokenWindow } from '../../src/data/audio-tokens.ts';

export const DEFAULTS = { resolution: 16, vaeSteps: 160, unetSteps: 200 };

export const VAE_FILE = 'public/demo/demo-vae.safetensors';
export const UNET_FILE = 'public/demo/demo-unet.safetensors';
export const MANIFEST_FILE = 'public/demo/demo-models.json';
/** Each committed file stays under this. */
export const MAX_FILE_BYTES = 2 * 1024 * 1024;
/** Above this an f32 file is written as f16. */
const F16_ABOVE = 1.5 * 1024 * 1024;

export interface LossSummary {
  /** Mean loss of the first and of the last 10 steps. */
  first10: number;
  last10: number;
  /** Every step's loss (rounded), for a curve. */
  curve: number[];
  /** Steps averaged into each curve point (absent: 1). */
  curveEvery?: number;
}

export interface DemoManifest {
  description: string;
  regenerate: string;
  clip: { file: string; frames: number; fps: number; box: FaceBox };
  resolution: number;
  mask: MaskParams;
  vae?: {
    preset: string;
    file: string;
    resolution: number;
    latentFactor: number;
    latentShape: [number, number, number];
    scalingFactor: number;
    dtype: 'F32' | 'F16';
    bytes: number;
    stepsTrained: number;
    batch: number;
    loss: LossSummary;
    /** Reconstruction of the clip's frames through mean latents. */
    psnr: number;
  };
  unet?: {
    preset: string;
    file: string;
    resolution: number;
    frames: number;
    batch?: number;
    audioDropout?: number;
    /** Where the weights were trained, when not by the lab's own trainer (demo-unet.ts). */
    trainer?: string;
    audio: { features: AudioFeatureConfig; window: TokenWindow; tokenShape: [number, number]; projection: string };
    dtype: 'F32' | 'F16';
    bytes: number;
    stepsTrained: number;
    lr: number;
    finalLoss: number;
    loss: LossSummary;
    secondsPerStep: number;
    /** Where a resumed run took over from the file (its optimizer state started afresh). */
    resumedAt?: number;
    check?: Record<string, unknown>;
  };
}

export function readManifest(): DemoManifest | null {
  return existsSync(MANIFEST_FILE) ? (JSON.parse(readFileSync(MANIFEST_FILE, 'utf8')) as DemoManifest) : null;
}

export function writeManifest(m: DemoManifest): void {
  writeAtomically(MANIFEST_FILE, JSON.stringify(m, null, 2) + '\n');
}

/** A model's weights as .safetensors (f16 when f32 would pass F16_ABOVE), written whole or not at all. */
export async function writeWeights(path: string, model: Module, metadata: Record<string, string>): Promise<{ dtype: 'F32' | 'F16'; bytes: number }> {
  let dtype: 'F32' | 'F16' = 'F32';
  let bytes = writeSafetensors(await exportStateDict(model, { dtype }), { ...metadata, dtype });
  if (bytes.byteLength > F16_ABOVE) {
    dtype = 'F16';
    bytes = writeSafetensors(await exportStateDict(model, { dtype }), { ...metadata, dtype });
  }
  if (bytes.byteLength > MAX_FILE_BYTES) throw new Error(`${path} would be ${bytes.byteLength} bytes, over the ${MAX_FILE_BYTES} limit`);
  writeAtomically(path, bytes);
  return { dtype, bytes: bytes.byteLength };
}

function writeAtomically(path: string, data: string | Uint8Array): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

export function lossSummary(losses: number[]): LossSummary {
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);
  return { first10: mean(losses.slice(0, 10)), last10: mean(losses.slice(-10)), curve: losses.map((l) => Number(l.toPrecision(4))) };
}
